//! TEMPORARY placeholder: replaced by the real business calendar.
#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    tz: chrono_tz::Tz,
}
impl BusinessCalendar {
    pub fn new(
        time_zone: &str,
        _work_days: &[String],
        _holidays: &[String],
    ) -> Result<Self, String> {
        Ok(BusinessCalendar {
            tz: time_zone
                .parse()
                .map_err(|_| format!("unknown time zone {time_zone}"))?,
        })
    }
    pub fn time_zone_name(&self) -> &str {
        self.tz.name()
    }
    pub fn format_local(&self, at: chrono::DateTime<chrono::Utc>) -> String {
        at.with_timezone(&self.tz)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    }
    pub fn add_business_days(
        &self,
        received: chrono::DateTime<chrono::Utc>,
        days: u32,
    ) -> chrono::DateTime<chrono::Utc> {
        let _ = self.tz;
        received + chrono::Duration::days(days as i64)
    }
}
