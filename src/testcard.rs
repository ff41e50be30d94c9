//! The test card: a picture that tells at a glance whether a frame is right
//! side up, unmirrored and in the right colours.
//!
//! Eight colour bars (white, yellow, cyan, green, magenta, red, blue, black)
//! fill the top three quarters; an eight-step grey ramp, dark on the left,
//! fills the bottom quarter. No two of the eight transforms of a wl_output
//! map it onto itself, and every area is a flat colour, so a nearest or
//! linear scaling keeps most pixels exact.
//!
//! The test client draws it, and tests compute the frames they expect from
//! it.

/// The colour bars, left to right, as opaque ARGB8888.
pub const BARS: [u32; 8] = [
    0xffff_ffff,
    0xffff_ff00,
    0xff00_ffff,
    0xff00_ff00,
    0xffff_00ff,
    0xffff_0000,
    0xff00_00ff,
    0xff00_0000,
];

/// The test card at `width` × `height`, row by row, as opaque ARGB8888
/// pixels (`0xAARRGGBB`).
pub fn test_card(width: u32, height: u32) -> Vec<u32> {
    let ramp_top = height - height / 4;
    (0..height)
        .flat_map(|y| (0..width).map(move |x| pixel(x, y, width, ramp_top)))
        .collect()
}

fn pixel(x: u32, y: u32, width: u32, ramp_top: u32) -> u32 {
    // Which eighth of the width `x` falls into.
    let step = (u64::from(x) * 8 / u64::from(width)) as usize;
    if y < ramp_top {
        BARS[step]
    } else {
        let grey = step as u32 * 255 / 7;
        0xff00_0000 | grey << 16 | grey << 8 | grey
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_on_top_and_a_dark_to_light_ramp_below() {
        let card = test_card(16, 8);
        assert_eq!(card.len(), 16 * 8);
        for (i, bar) in BARS.iter().enumerate() {
            assert_eq!(card[2 * i], *bar, "bar {i}");
        }
        let bottom = &card[7 * 16..];
        assert_eq!(bottom[0], 0xff00_0000);
        assert_eq!(bottom[15], 0xffff_ffff);
        assert!(bottom.windows(2).all(|w| w[0] & 0xff <= w[1] & 0xff));
    }

    #[test]
    fn works_for_sizes_smaller_than_the_bars() {
        assert_eq!(test_card(1, 1), vec![BARS[0]]);
        assert_eq!(test_card(3, 2).len(), 6);
    }
}
