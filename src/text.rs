//! Rules about text shared by every domain: what counts as blank, what is invisible, how
//! case is folded for keys and searches, and how long a folded key can get. Each rule is a
//! function here and nowhere else; the OpenAPI patterns are built from the same tables.

use icu_casemap::CaseMapper;

/// White space as Rust's `char::is_whitespace` (Unicode `White_Space`) sees it.
const WHITE_SPACE: &[(char, char)] = &[
    ('\u{0009}', '\u{000D}'),
    (' ', ' '),
    ('\u{0085}', '\u{0085}'),
    ('\u{00A0}', '\u{00A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// Characters that render as nothing: Unicode's default-ignorable code points (format
/// characters, joiners, variation selectors, tags, fillers) and the blank braille pattern.
/// In a title they make an empty one look filled; in an address, a look-alike of another.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|(low, high)| (*low..=*high).contains(&c))
}

/// Renders as nothing at all (see `INVISIBLE`).
pub fn is_invisible(c: char) -> bool {
    in_ranges(INVISIBLE, c)
}

/// Made only of white space and invisible characters (the empty string included).
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| in_ranges(WHITE_SPACE, c) || is_invisible(c))
}

/// Lengths are counted in Unicode characters, as clients count them.
pub fn char_count(text: &str) -> usize {
    text.chars().count()
}

/// Full Unicode case folding (`Σ`, `σ` and `ς` are one letter; `ß` is `ss`): the form of
/// every case-insensitive key column and of every search term matched against one.
pub fn fold_case(text: &str) -> String {
    CaseMapper::new().fold_string(text).into_owned()
}

/// Full case folding turns one character into at most three (`ΐ`, `ﬃ`): a key column for
/// values of `n` characters holds `FOLD_GROWTH * n`.
pub const FOLD_GROWTH: usize = 3;

/// A regular expression (ECMA-262, as OpenAPI uses) for text without U+0000.
pub const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";

/// A regular expression for text without U+0000 that has at least one character that is
/// neither white space nor invisible: the same rule as `is_blank`, from the same tables,
/// except for the invisible characters beyond the Basic Multilingual Plane (tags), which
/// need an escape that not every regular-expression engine reads (Python's `re` does not).
pub fn not_blank_pattern() -> String {
    let mut class = String::from(r"\u0000");
    let basic_plane = |(_, high): &&(char, char)| u32::from(*high) <= 0xFFFF;
    for (low, high) in WHITE_SPACE.iter().chain(INVISIBLE).filter(basic_plane) {
        class.push_str(&escape(*low));
        if low != high {
            class.push('-');
            class.push_str(&escape(*high));
        }
    }
    format!("^[^\\u0000]*[^{class}][^\\u0000]*$")
}

/// `\uXXXX`.
fn escape(c: char) -> String {
    format!("\\u{:04x}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_includes_invisible_characters() {
        assert!(is_blank(""));
        assert!(is_blank(" \t\n\u{3000}"));
        assert!(is_blank("\u{200B}\u{200B}"));
        assert!(is_blank("\u{2800}"));
        assert!(is_blank("\u{FEFF} \u{E0041}"));
        assert!(!is_blank("a"));
        assert!(!is_blank("\u{200B}x\u{200B}"));
        assert!(!is_blank("İ"));
    }

    #[test]
    fn whitespace_table_matches_rust() {
        for code in 0..=0x3000u32 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            assert_eq!(in_ranges(WHITE_SPACE, c), c.is_whitespace(), "{code:x}");
        }
    }

    #[test]
    fn folding_is_full_and_idempotent() {
        assert_eq!(fold_case("ΟΔΟΣ"), fold_case("οδοσ"));
        assert_eq!(fold_case("Σabc"), fold_case("ςabc"));
        assert!(fold_case("ΟΔΟΣabc").contains(&fold_case("Σabc")));
        assert_eq!(fold_case("Straße"), "strasse");
        assert_eq!(fold_case("İ"), "i\u{307}");
        for text in ["ΟΔΟΣ", "Straße", "İİ", "ﬃ", "ΐ"] {
            let once = fold_case(text);
            assert_eq!(fold_case(&once), once, "{text}");
        }
    }

    #[test]
    fn folding_grows_at_most_threefold() {
        for code in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let folded = fold_case(&c.to_string());
            assert!(char_count(&folded) <= FOLD_GROWTH, "{code:x}");
        }
    }

    #[test]
    fn the_pattern_is_the_rule() {
        let pattern = not_blank_pattern();
        assert!(pattern.contains(r"\u200b-\u200f"));
        assert!(pattern.contains(r"\u2800"));
        assert!(!pattern.contains(r"\u{"));
    }
}
