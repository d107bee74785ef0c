//! The one place where the domain enums of [`crate::model`] meet SQLite:
//! each is stored as its column text and read back strictly (an unknown
//! text is a conversion error naming the value, never a silent default).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::model::{Column, KeySource, MessageStatus, OutboxKind, OutboxStatus, Signature};

macro_rules! sql_column {
    ($($ty:ty),+) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(Column::as_str(*self)))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                <$ty as Column>::parse(text).ok_or_else(|| {
                    FromSqlError::Other(format!("unknown {} {text:?}", stringify!($ty)).into())
                })
            }
        }
    )+};
}

sql_column!(
    Signature,
    KeySource,
    MessageStatus,
    OutboxKind,
    OutboxStatus
);

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn enums_round_trip_through_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        let back: OutboxKind = conn
            .query_row("SELECT ?1", [OutboxKind::Deadline], |r| r.get(0))
            .unwrap();
        assert_eq!(back, OutboxKind::Deadline);
        let text: String = conn
            .query_row("SELECT ?1", [Signature::UnknownKey], |r| r.get(0))
            .unwrap();
        assert_eq!(text, "unknown_key");
    }

    #[test]
    fn unknown_text_is_an_error_naming_it() {
        let conn = Connection::open_in_memory().unwrap();
        let err = conn
            .query_row("SELECT 'exploded'", [], |r| r.get::<_, OutboxStatus>(0))
            .unwrap_err();
        assert!(err.to_string().contains("exploded"), "{err}");
    }
}
