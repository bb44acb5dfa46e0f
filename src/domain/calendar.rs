//! Calendar arithmetic for due dates (UTC, proleptic Gregorian). No clock: times are passed in.
//!
//! Owns: "one calendar month after": the corresponding date of the next month, or that month's
//! last day when it has no such date (31 January → 28/29 February).

use super::types::Time;

/// Days since 1970-01-01 → (year, month 1-12, day 1-31). Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The due date one calendar month after `t`'s date, as `YYYY-MM-DD`, and the end of that day
/// (the first millisecond of the next day): fulfilment at or after it is late.
pub fn one_month_after(t: Time) -> (String, Time) {
    let days = i64::try_from(t.0 / Time::DAY).unwrap_or(i64::MAX / 2);
    let (y, m, d) = civil_from_days(days);
    let (y2, m2) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let d2 = d.min(days_in_month(y2, m2));
    let due_days = days_from_civil(y2, m2, d2);
    let end = u64::try_from(due_days + 1).unwrap_or(0) * Time::DAY;
    (format!("{y2:04}-{m2:02}-{d2:02}"), Time(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Time {
        Time::parse(s).unwrap()
    }

    #[test]
    fn one_calendar_month_is_the_corresponding_date_or_the_last_day() {
        let cases = [
            ("2026-01-15T10:00:00.000Z", "2026-02-15"),
            ("2026-01-31T23:59:59.999Z", "2026-02-28"),
            ("2028-01-31T00:00:00.000Z", "2028-02-29"),
            ("2026-03-31T08:00:00.000Z", "2026-04-30"),
            ("2026-12-31T08:00:00.000Z", "2027-01-31"),
            ("2026-11-23T12:00:00.000Z", "2026-12-23"),
        ];
        for (req, due) in cases {
            let (d, end) = one_month_after(at(req));
            assert_eq!(d, due, "request {req}");
            assert_eq!(
                end.to_string(),
                format!("{}T00:00:00.000Z", {
                    let (y, m, dd) = civil_from_days(
                        days_from_civil(
                            due[..4].parse().unwrap(),
                            due[5..7].parse().unwrap(),
                            due[8..].parse().unwrap(),
                        ) + 1,
                    );
                    format!("{y:04}-{m:02}-{dd:02}")
                })
            );
        }
    }

    #[test]
    fn civil_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 59, 60, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
