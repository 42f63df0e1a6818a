//! How quantities are written for people: durations in µs, ms or s.

/// `412µs`, `1.23ms`, `2.50s`.
pub fn format_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(format_us(412), "412µs");
        assert_eq!(format_us(1_234), "1.23ms");
        assert_eq!(format_us(2_500_000), "2.50s");
    }
}
