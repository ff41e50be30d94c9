//! Parsers for the command-line arguments the programs share.

/// Parses `WIDTHxHEIGHT`, e.g. `1920x1080`; both at least 1.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("expected WIDTHxHEIGHT")?;
    let parse = |v: &str| v.parse::<u32>().map_err(|e| format!("{v:?}: {e}"));
    let (w, h) = (parse(w)?, parse(h)?);
    if w == 0 || h == 0 {
        return Err("a size is at least 1x1".into());
    }
    Ok((w, h))
}

/// Parses an output scale, e.g. `1`, `1.25`, `2`: between 0.25 and 8,
/// taken to the nearest 120th, the unit `wp_fractional_scale_v1` tells
/// clients the scale in (so that they and the compositor use one value).
pub fn parse_scale(s: &str) -> Result<f64, String> {
    let scale: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !(0.25..=8.0).contains(&scale) {
        return Err("a scale is between 0.25 and 8".into());
    }
    Ok((scale * 120.0).round() / 120.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_say_why() {
        assert_eq!(parse_size("1920x1080"), Ok((1920, 1080)));
        assert!(parse_size("1920").is_err());
        assert!(parse_size("0x10").is_err());
        assert!(parse_size("ax10").unwrap_err().contains("\"a\""));
    }

    #[test]
    fn scales_parse_to_120ths_and_bad_ones_say_why() {
        assert_eq!(parse_scale("1.5"), Ok(1.5));
        assert_eq!(parse_scale("2"), Ok(2.0));
        assert_eq!(parse_scale("1.3333"), Ok(160.0 / 120.0));
        assert!(parse_scale("0").is_err());
        assert!(parse_scale("NaN").is_err());
        assert!(parse_scale("x").unwrap_err().contains("\"x\""));
    }
}
