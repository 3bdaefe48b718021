//! The one text policy for everything people write that other people see:
//! messages, account names, chat titles, button labels, invoice and
//! signature titles. Text must show at least one visible character, and
//! must not carry control characters or bidirectional formatting
//! characters (which can make a message display as something it is not;
//! see Unicode Technical Standard #39 and CVE-2021-42574, "Trojan Source").
//!
//! "Invisible" follows Unicode: White_Space, and Default_Ignorable_Code_Point
//! from `DerivedCoreProperties.txt` (zero-width spaces and joiners, word
//! joiner, Hangul fillers, variation selectors, tags …), plus U+2800
//! BRAILLE PATTERN BLANK, which renders as a blank.

use std::fmt;

/// Why a text was refused; names the field and the offending character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    /// Nothing in it would be visible (empty, spaces, zero-width characters …).
    NoVisibleCharacters(String),
    /// It holds a control character (line breaks are allowed in messages only).
    ControlCharacter(String, char),
    /// It holds a bidirectional embedding, override or isolate character.
    BidiControl(String, char),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::NoVisibleCharacters(field) => {
                write!(f, "{field} has no visible characters")
            }
            TextError::ControlCharacter(field, c) => {
                write!(f, "{field} contains the control character U+{:04X}", u32::from(*c))
            }
            TextError::BidiControl(field, c) => write!(
                f,
                "{field} contains the bidirectional formatting character U+{:04X}, which is not allowed",
                u32::from(*c)
            ),
        }
    }
}

impl std::error::Error for TextError {}

/// Checks multi-line text (a message): line breaks and tabs are allowed.
///
/// # Errors
///
/// A [`TextError`] naming `field` when the text breaks the policy.
pub fn check_visible(field: &str, text: &str) -> Result<(), TextError> {
    check(field, text, true)
}

/// Checks one line of text (a name, a title, a label): no line breaks.
///
/// # Errors
///
/// A [`TextError`] naming `field` when the text breaks the policy.
pub fn check_line(field: &str, text: &str) -> Result<(), TextError> {
    check(field, text, false)
}

fn check(field: &str, text: &str, multiline: bool) -> Result<(), TextError> {
    let mut visible = false;
    for c in text.chars() {
        if is_bidi_control(c) {
            return Err(TextError::BidiControl(field.to_string(), c));
        }
        let allowed_control = multiline && matches!(c, '\n' | '\t' | '\r');
        if is_control(c) && !allowed_control {
            return Err(TextError::ControlCharacter(field.to_string(), c));
        }
        if !c.is_whitespace() && !is_default_ignorable(c) && c != '\u{2800}' && !is_control(c) {
            visible = true;
        }
    }
    if visible {
        Ok(())
    } else {
        Err(TextError::NoVisibleCharacters(field.to_string()))
    }
}

/// General category Cc, plus the line and paragraph separators.
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069).
/// Whether `c` is a bidirectional control character (the Trojan Source
/// characters), which the host never stores in text people see.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt),
/// plus the interlinear annotation characters U+FFF9–U+FFFB (format
/// characters that render as nothing).
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::{TextError, check_line, check_visible};

    #[test]
    fn invisible_only_text_is_refused() {
        for text in [
            "",
            "   ",
            "\u{200b}\u{200b}\u{200b}",
            "\u{200d}\u{2060}",
            "\u{3164}",
            "\u{2800}",
            "\u{feff} \u{00ad}",
            "\u{e0041}\u{e0042}",
            "\n\t",
        ] {
            assert_eq!(
                check_visible("text", text),
                Err(TextError::NoVisibleCharacters("text".into())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn control_and_bidi_characters_are_refused_and_named() {
        let e = check_visible("text", "abc\u{202e}cba").expect_err("bidi override");
        assert_eq!(
            e.to_string(),
            "text contains the bidirectional formatting character U+202E, which is not allowed"
        );
        assert!(matches!(
            check_visible("text", "a\u{2066}b"),
            Err(TextError::BidiControl(..))
        ));
        assert!(matches!(
            check_visible("text", "bell\u{7}"),
            Err(TextError::ControlCharacter(..))
        ));
        assert!(matches!(
            check_line("name", "two\nlines"),
            Err(TextError::ControlCharacter(..))
        ));
    }

    #[test]
    fn ordinary_text_in_any_script_passes() {
        for text in [
            "hi",
            "Привет, мир",
            "مرحبا",
            "שלום \u{200f}עולם",
            "👩\u{200d}💻",
            "line one\nline two",
            "한국어",
        ] {
            assert_eq!(check_visible("text", text), Ok(()), "{text:?}");
        }
        assert_eq!(check_line("name", "Alice"), Ok(()));
    }
}
