//! Business-day calendar for the response SLA (acknowledge within 2 business days, initial
//! assessment within 5): time zone, work days and holidays, deadline arithmetic.
//! Pure: callers pass "now"; nothing here reads the clock or panics on any input.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;
use std::collections::BTreeSet;

/// Business-day additions beyond this are clamped (≈ 100 years; keeps loops bounded).
const MAX_BUSINESS_DAYS: u32 = 36_500;

/// A business calendar in one time zone.
#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    tz: Tz,
    /// indexed by `Weekday::num_days_from_monday()`
    work_days: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
}

fn parse_weekday(s: &str) -> Option<usize> {
    let d = match s.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => 0,
        "tue" | "tues" | "tuesday" => 1,
        "wed" | "wednesday" => 2,
        "thu" | "thur" | "thurs" | "thursday" => 3,
        "fri" | "friday" => 4,
        "sat" | "saturday" => 5,
        "sun" | "sunday" => 6,
        _ => return None,
    };
    Some(d)
}

impl BusinessCalendar {
    /// Builds a calendar. `time_zone` is an IANA name ("Europe/Berlin"), `work_days` are
    /// "mon".."sun" or "monday".."sunday" (any case), `holidays` are "YYYY-MM-DD". The error
    /// names the offending value.
    pub fn new(time_zone: &str, work_days: &[String], holidays: &[String]) -> Result<Self, String> {
        let tz: Tz = time_zone.trim().parse().map_err(|_| {
            format!(
                "unknown time zone {time_zone:?} (expected an IANA name such as \"Europe/Berlin\")"
            )
        })?;
        if work_days.is_empty() {
            return Err("work_days is empty: at least one business weekday is needed".into());
        }
        let mut days = [false; 7];
        for (i, d) in work_days.iter().enumerate() {
            let idx = parse_weekday(d).ok_or_else(|| {
                format!("unknown weekday {d:?} in work_days[{i}] (expected \"mon\"..\"sun\" or \"monday\"..\"sunday\")")
            })?;
            days[idx] = true;
        }
        let mut set = BTreeSet::new();
        for (i, h) in holidays.iter().enumerate() {
            let date = NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d").map_err(|_| {
                format!("invalid date {h:?} in holidays[{i}] (expected YYYY-MM-DD)")
            })?;
            set.insert(date);
        }
        Ok(Self {
            tz,
            work_days: days,
            holidays: set,
        })
    }

    /// Mon–Fri in `time_zone`, no holidays.
    pub fn weekdays(tz: Tz) -> Self {
        Self {
            tz,
            work_days: [true, true, true, true, true, false, false],
            holidays: BTreeSet::new(),
        }
    }

    /// The calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The IANA name of the calendar's time zone ("Europe/Berlin").
    pub fn time_zone_name(&self) -> &str {
        self.tz.name()
    }

    /// An instant as local time for humans: "Tue 2026-01-20 23:59 CET". Instants whose local
    /// time would leave chrono's range are shown in UTC instead of panicking.
    pub fn format_local(&self, at: DateTime<Utc>) -> String {
        let naive = at.naive_utc();
        let offset = self.tz.offset_from_utc_datetime(&naive).fix();
        if naive.checked_add_offset(offset).is_some() {
            at.with_timezone(&self.tz)
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        } else {
            at.format("%a %Y-%m-%d %H:%M UTC").to_string()
        }
    }

    /// A work day that is not a holiday.
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        self.work_days[date.weekday().num_days_from_monday() as usize]
            && !self.holidays.contains(&date)
    }

    /// The local calendar date of an instant.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        // `with_timezone(..).date_naive()` panics when the local time leaves chrono's range
        // (e.g. `DateTime::<Utc>::MAX_UTC` east of UTC); fall back to the UTC date there.
        let naive = t.naive_utc();
        let offset = self.tz.offset_from_utc_datetime(&naive).fix();
        naive
            .checked_add_offset(offset)
            .map_or_else(|| naive.date(), |local| local.date())
    }

    /// The first instant of a local date. On a day whose midnight falls in a DST gap this is
    /// the first existing local time; on an ambiguous midnight, the earlier one.
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        for minutes in 0..(24 * 60) {
            let time = NaiveTime::MIN + Duration::minutes(minutes);
            match self.tz.from_local_datetime(&date.and_time(time)) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
                LocalResult::None => continue,
            }
        }
        // unreachable for real zones (no day lacks every minute); fall back to UTC midnight
        Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
    }

    /// The last second of a local date: one second before the next local day starts
    /// (23:59:59 local, whatever the UTC offset is that day).
    pub fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        match date.succ_opt() {
            Some(next) => self
                .start_of_day(next)
                .checked_sub_signed(Duration::seconds(1))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// The `n`th business day strictly after `date` (`n = 0` gives `date` itself).
    pub fn nth_business_day_after(&self, date: NaiveDate, n: u32) -> Option<NaiveDate> {
        let n = n.min(MAX_BUSINESS_DAYS);
        let mut d = date;
        let mut counted = 0;
        while counted < n {
            d = d.succ_opt()?;
            if self.is_business_day(d) {
                counted += 1;
            }
        }
        Some(d)
    }

    /// `received` + N business days.
    ///
    /// Rule: the day of receipt never counts (whatever the hour, and even if it is a business
    /// day); the deadline is the end (23:59:59 local) of the Nth business day after the local
    /// date of receipt, in the calendar's time zone, returned as UTC. Weekends and holidays are
    /// skipped. The end of day is computed from the local calendar, so on DST-change days it is
    /// still 23:59:59 local (the UTC instant moves with the offset; a 23- or 25-hour day changes
    /// nothing). Example: received Friday 16:00 Europe/Berlin, 2 days, Mon–Fri → Tuesday
    /// 23:59:59 Berlin. `days = 0` gives the end of the day of receipt. Days beyond 36,500 are
    /// clamped; past the end of chrono's calendar the result saturates at the maximum instant.
    pub fn add_business_days(&self, received: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        match self.nth_business_day_after(self.local_date(received), days) {
            Some(d) => self.end_of_day(d),
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// Business days elapsed since receipt: business days strictly after the local date of
    /// `received`, up to and including the local date of `now` (0 when `now` is not later).
    pub fn business_days_elapsed(&self, received: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
        let start = self.local_date(received);
        let end = self.local_date(now);
        let mut d = start;
        let mut n = 0u32;
        while d < end && n < MAX_BUSINESS_DAYS {
            let Some(next) = d.succ_opt() else { break };
            d = next;
            if self.is_business_day(d) {
                n += 1;
            }
        }
        n
    }

    /// Time left until `deadline` (negative when overdue).
    pub fn remaining(&self, deadline: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
        deadline.signed_duration_since(now)
    }

    /// True when the deadline has not passed yet but falls within the next `hours` hours.
    pub fn due_within(&self, deadline: DateTime<Utc>, now: DateTime<Utc>, hours: u32) -> bool {
        let left = self.remaining(deadline, now);
        left >= Duration::zero() && left <= Duration::hours(i64::from(hours))
    }

    /// True when `now` is past the deadline.
    pub fn is_overdue(&self, deadline: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now > deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn weekdays() -> Vec<String> {
        s(&["mon", "tue", "wed", "thu", "fri"])
    }

    fn cal(tz: &str, holidays: &[&str]) -> BusinessCalendar {
        BusinessCalendar::new(tz, &weekdays(), &s(holidays)).unwrap()
    }

    fn every_day(tz: &str) -> BusinessCalendar {
        BusinessCalendar::new(
            tz,
            &s(&["Monday", "tuesday", "WED", "thu", "fri", "sat", "sun"]),
            &[],
        )
        .unwrap()
    }

    fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32, sec: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, m, d, h, min, sec)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32, sec: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, sec).single().unwrap()
    }

    #[test]
    fn friday_afternoon_plus_two_is_tuesday_end_of_day_over_weekend() {
        let c = cal("Europe/Berlin", &[]);
        let tz = c.time_zone();
        // Friday 2026-01-16 16:00 CET
        let got = c.add_business_days(local(tz, 2026, 1, 16, 16, 0, 0), 2);
        assert_eq!(got, local(tz, 2026, 1, 20, 23, 59, 59));
        assert_eq!(got, utc(2026, 1, 20, 22, 59, 59));
    }

    #[test]
    fn receipt_on_saturday_counts_from_monday() {
        let c = cal("Europe/Berlin", &[]);
        let tz = c.time_zone();
        let got = c.add_business_days(local(tz, 2026, 1, 17, 9, 0, 0), 1);
        assert_eq!(got, local(tz, 2026, 1, 19, 23, 59, 59));
    }

    #[test]
    fn receipt_date_is_local_not_utc() {
        let c = cal("Europe/Berlin", &[]);
        // 23:30 UTC Friday is 00:30 Saturday in Berlin: Saturday is the day of receipt
        let got = c.add_business_days(utc(2026, 1, 16, 23, 30, 0), 1);
        assert_eq!(got, local(c.time_zone(), 2026, 1, 19, 23, 59, 59));
    }

    #[test]
    fn holidays_are_skipped() {
        let c = cal("Europe/Berlin", &["2026-12-25", "2026-12-28"]);
        let tz = c.time_zone();
        assert!(!c.is_business_day(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()));
        assert!(c.is_business_day(NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()));
        // Thu 24th: Fri 25 holiday, weekend, Mon 28 holiday -> Tue 29 (1), Wed 30 (2)
        let got = c.add_business_days(local(tz, 2026, 12, 24, 11, 0, 0), 2);
        assert_eq!(got, local(tz, 2026, 12, 30, 23, 59, 59));
    }

    #[test]
    fn berlin_spring_forward_end_of_day_is_local_midnight_minus_one() {
        // Sunday 2026-03-29: CET -> CEST at 02:00; the day has 23 hours
        let c = every_day("Europe/Berlin");
        let got = c.add_business_days(local(c.time_zone(), 2026, 3, 28, 12, 0, 0), 1);
        assert_eq!(got, utc(2026, 3, 29, 21, 59, 59)); // 23:59:59 CEST
                                                       // Mon-Fri calendar across the change: Friday 27th + 1 -> Monday 30th in CEST
        let c = cal("Europe/Berlin", &[]);
        let got = c.add_business_days(local(c.time_zone(), 2026, 3, 27, 10, 0, 0), 1);
        assert_eq!(got, utc(2026, 3, 30, 21, 59, 59));
    }

    #[test]
    fn berlin_fall_back_end_of_day_is_local_midnight_minus_one() {
        // Sunday 2026-10-25: CEST -> CET at 03:00; the day has 25 hours
        let c = every_day("Europe/Berlin");
        let got = c.add_business_days(local(c.time_zone(), 2026, 10, 24, 12, 0, 0), 1);
        assert_eq!(got, utc(2026, 10, 25, 22, 59, 59)); // 23:59:59 CET
        let c = cal("Europe/Berlin", &[]);
        let got = c.add_business_days(local(c.time_zone(), 2026, 10, 23, 10, 0, 0), 2);
        assert_eq!(got, utc(2026, 10, 27, 22, 59, 59));
    }

    #[test]
    fn new_york_dst_changes() {
        let c = cal("America/New_York", &[]);
        let tz = c.time_zone();
        // Friday 2026-03-06 17:00 EST; DST starts Sunday 2026-03-08
        let got = c.add_business_days(local(tz, 2026, 3, 6, 17, 0, 0), 1);
        assert_eq!(got, utc(2026, 3, 10, 3, 59, 59)); // Monday 23:59:59 EDT
                                                      // Friday 2026-10-30; DST ends Sunday 2026-11-01
        let got = c.add_business_days(local(tz, 2026, 10, 30, 17, 0, 0), 1);
        assert_eq!(got, utc(2026, 11, 3, 4, 59, 59)); // Monday 23:59:59 EST
    }

    #[test]
    fn end_of_day_is_always_the_last_local_second_in_several_zones() {
        for zone in [
            "Europe/Berlin",
            "America/New_York",
            "America/Santiago",
            "America/Havana",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
        ] {
            let c = every_day(zone);
            let mut d = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
            for _ in 0..800 {
                let end = c.end_of_day(d);
                assert_eq!(c.local_date(end), d, "{zone} {d}");
                assert_eq!(
                    c.local_date(end + Duration::seconds(1)),
                    d.succ_opt().unwrap(),
                    "{zone} {d}"
                );
                d = d.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn zero_days_is_end_of_receipt_day() {
        let c = cal("Europe/Berlin", &[]);
        let tz = c.time_zone();
        let got = c.add_business_days(local(tz, 2026, 1, 17, 9, 0, 0), 0);
        assert_eq!(got, local(tz, 2026, 1, 17, 23, 59, 59));
    }

    #[test]
    fn huge_day_counts_do_not_hang_or_panic() {
        let c = cal("Europe/Berlin", &[]);
        let got = c.add_business_days(utc(2026, 1, 1, 0, 0, 0), u32::MAX);
        assert!(got > utc(2100, 1, 1, 0, 0, 0));
        let _ = c.add_business_days(DateTime::<Utc>::MAX_UTC, 5);
        let _ = c.business_days_elapsed(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn elapsed_and_due_helpers() {
        let c = cal("Europe/Berlin", &[]);
        let tz = c.time_zone();
        let rec = local(tz, 2026, 1, 16, 16, 0, 0); // Friday
        assert_eq!(
            c.business_days_elapsed(rec, local(tz, 2026, 1, 18, 12, 0, 0)),
            0
        );
        assert_eq!(
            c.business_days_elapsed(rec, local(tz, 2026, 1, 20, 12, 0, 0)),
            2
        );
        assert_eq!(c.business_days_elapsed(rec, rec - Duration::days(3)), 0);
        let deadline = c.add_business_days(rec, 2);
        let now = deadline - Duration::hours(5);
        assert!(c.due_within(deadline, now, 6));
        assert!(!c.due_within(deadline, now, 4));
        assert!(!c.is_overdue(deadline, now));
        assert!(c.is_overdue(deadline, deadline + Duration::seconds(1)));
        assert!(!c.due_within(deadline, deadline + Duration::seconds(1), 6));
    }

    #[test]
    fn format_local_shows_local_time_and_zone_and_survives_extremes() {
        let c = cal("Europe/Berlin", &[]);
        assert_eq!(c.time_zone_name(), "Europe/Berlin");
        let deadline = c.add_business_days(local(c.time_zone(), 2026, 1, 16, 16, 0, 0), 2);
        assert_eq!(c.format_local(deadline), "Tue 2026-01-20 23:59 CET");
        let summer = c.add_business_days(local(c.time_zone(), 2026, 7, 3, 16, 0, 0), 2);
        assert_eq!(c.format_local(summer), "Tue 2026-07-07 23:59 CEST");
        assert!(c.format_local(DateTime::<Utc>::MAX_UTC).ends_with("UTC"));
        let _ = c.format_local(DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn errors_name_the_bad_value() {
        let e = BusinessCalendar::new("Europe/Berln", &weekdays(), &[]).unwrap_err();
        assert!(e.contains("\"Europe/Berln\""), "{e}");
        let e = BusinessCalendar::new("UTC", &s(&["mon", "fry"]), &[]).unwrap_err();
        assert!(e.contains("\"fry\"") && e.contains("work_days[1]"), "{e}");
        let e = BusinessCalendar::new("UTC", &weekdays(), &s(&["2026-12-25", "2026-02-30"]))
            .unwrap_err();
        assert!(
            e.contains("\"2026-02-30\"") && e.contains("holidays[1]"),
            "{e}"
        );
        let e = BusinessCalendar::new("UTC", &[], &[]).unwrap_err();
        assert!(e.contains("work_days"), "{e}");
    }
}
