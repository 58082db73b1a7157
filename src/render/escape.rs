//! Escaping of every user-supplied string that goes into the markdown. PURE.
//!
//! Lightdash names, descriptions, labels, filter values, tab names and markdown tiles are
//! written by people (or by dbt authors), so they must not be able to restructure our
//! markdown, inject HTML, or plant links that Dot's AI or a reader might follow. Every such
//! string goes through exactly one of these functions:
//!
//! - [`inline`]: one line of text for headings, list items and table cells. Whitespace
//!   (newlines included) collapses to single spaces.
//! - [`block`]: multi-line text (descriptions) that keeps paragraph breaks; each line is
//!   escaped like [`inline`].
//! - [`markdown_tile`]: a markdown tile's source reduced to plain text lines (markup
//!   stripped), then escaped like [`block`], capped in length.
//! - [`code`]: an inline code span (SQL expressions, field ids).
//!
//! The rules, and why:
//! - HTML character references (`&gt;`, `&amp;`, `&#39;`, `&#x2019;`) are decoded once when
//!   the text is read: Lightdash stores what its editors typed, and some editors store
//!   references. Escaping then happens once, below, so `&gt;10%` reaches Dot as `>10%`, never
//!   as `&amp;gt;10%`.
//! - Control characters (C0, C1, DEL) and invisible formatting characters (bidi embeddings,
//!   overrides and isolates, zero-width characters, BOM) are removed: they can hide or reorder
//!   text so a reader sees something other than what the AI reads.
//! - Only what would be live markup is escaped: `<` becomes `&lt;` where it could open a tag
//!   or an autolink (before a letter, `/`, `!` or `?`), and `&` becomes `&amp;` where it
//!   would start a character reference (`&name;`, `&#…;`). A plain `&` or `>` stays as typed
//!   (`Revenue & Plans`, `>10%`); a `>` that starts a line is backslash-escaped (quote).
//! - `\`, `` ` ``, `*`, `~`, `[`, `]`, `|` are backslash-escaped, and `(` right after `]`
//!   too, so no emphasis, code span, link, image, footnote or table cell comes from user text
//!   and the character sequence `](` never appears. `_` is escaped only at a word boundary
//!   (CommonMark never treats an intraword `_` as emphasis), which keeps `order_items` readable.
//! - Block markers at the start of a line (`#`, `-`, `+`, `=`, `1.`, `1)`) are escaped.
//! - Bare URLs (`scheme://…`, `www.…`, `user@host`) would be turned into links by GFM
//!   autolinking, and backslash escapes do not reliably stop every renderer's linkifier. They
//!   are therefore rendered inside an inline code span, where no renderer links anything;
//!   the characters that could end the span or a table cell (`` ` ``, `|`, `\`, `<`, `>`)
//!   are percent-encoded, which keeps the URL equivalent.

/// Whether a character is removed from user text: controls and invisible formatting
/// characters. `\n` is handled by the callers (kept by [`block`], collapsed by [`inline`]);
/// `\t` is whitespace and collapses to a space.
fn is_stripped(c: char) -> bool {
    if c == '\n' || c == '\t' {
        return false;
    }
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{061C}'              // Arabic letter mark
            | '\u{180E}'              // Mongolian vowel separator
            | '\u{FEFF}'              // BOM / zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
        )
}

/// Decodes HTML character references once, then normalises line breaks to `\n` (CR LF,
/// lone CR, NEL, U+2028/2029) and drops stripped characters (also ones a reference decoded
/// to, such as `&#x202E;`).
fn clean(s: &str) -> String {
    normalise(&decode_references(s))
}

/// Line breaks normalised and stripped characters dropped, nothing decoded: for code, where
/// `&amp;` is what the author wrote.
fn normalise(s: &str) -> String {
    let s = s.replace("\r\n", "\n");
    s.chars()
        .map(|c| match c {
            '\r' | '\u{0085}' | '\u{2028}' | '\u{2029}' => '\n',
            c => c,
        })
        .filter(|c| !is_stripped(*c))
        .collect()
}

/// Named references Lightdash text is seen to hold (editors escaping typography and markup).
/// Unknown names stay as typed, and are then escaped as a whole (`&amp;name;`).
const NAMED_REFERENCES: &[(&str, &str)] = &[
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("nbsp", " "),
    ("ndash", "–"),
    ("mdash", "—"),
    ("hellip", "…"),
    ("lsquo", "‘"),
    ("rsquo", "’"),
    ("ldquo", "“"),
    ("rdquo", "”"),
    ("laquo", "«"),
    ("raquo", "»"),
    ("middot", "·"),
    ("bull", "•"),
    ("times", "×"),
    ("divide", "÷"),
    ("deg", "°"),
    ("plusmn", "±"),
    ("le", "≤"),
    ("ge", "≥"),
    ("ne", "≠"),
    ("euro", "€"),
    ("pound", "£"),
    ("yen", "¥"),
    ("cent", "¢"),
    ("copy", "©"),
    ("reg", "®"),
    ("trade", "™"),
    ("shy", ""),
];

/// The reference at the start of `s` (which starts with `&`): its length in bytes and what it
/// decodes to. `None` when it is not a complete, known reference.
fn reference_at(s: &str) -> Option<(usize, String)> {
    let end = s[1..].find(';').map(|i| i + 1).filter(|&i| i <= 12)?;
    let body = &s[1..end];
    let decoded = if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        // NUL and invalid scalar values stay as typed.
        char::from_u32(code).filter(|c| *c != '\0')?.to_string()
    } else {
        NAMED_REFERENCES
            .iter()
            .find(|(name, _)| *name == body)
            .map(|(_, text)| (*text).to_owned())?
    };
    Some((end + 1, decoded))
}

/// Decodes HTML character references, once: the output is never decoded again, so
/// `&amp;gt;` becomes the text `&gt;`.
fn decode_references(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match reference_at(rest) {
            Some((len, text)) => {
                out.push_str(&text);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether `&` at the start of `s` would start a character reference in CommonMark
/// (`&name;`, `&#digits;`, `&#xhex;`), known to us or not.
fn starts_reference(s: &str) -> bool {
    let Some(end) = s[1..].find(';').map(|i| i + 1) else {
        return false;
    };
    let body = &s[1..end];
    let body = body
        .strip_prefix("#x")
        .or_else(|| body.strip_prefix("#X"))
        .or_else(|| body.strip_prefix('#'))
        .unwrap_or(body);
    !body.is_empty() && body.len() <= 32 && body.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A word that a GFM linkifier would turn into a link.
fn is_url_like(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    if lower.contains("://") || lower.contains("www.") {
        return true;
    }
    // Email autolinks: something@something.
    let chars: Vec<char> = word.chars().collect();
    chars.iter().enumerate().any(|(i, c)| {
        *c == '@'
            && i > 0
            && chars[i - 1].is_alphanumeric()
            && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())
    })
}

/// A URL-like word as an inline code span, with span- and cell-breaking characters
/// percent-encoded.
fn url_code(word: &str) -> String {
    let mut out = String::from("`");
    for c in word.chars() {
        match c {
            '`' => out.push_str("%60"),
            '|' => out.push_str("%7C"),
            '\\' => out.push_str("%5C"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

/// Escapes one whitespace-free word that is not URL-like.
fn escape_word(word: &str, out: &mut String) {
    let chars: Vec<char> = word.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '<' if chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphabetic() || matches!(n, '/' | '!' | '?')) =>
            {
                out.push_str("&lt;")
            }
            '&' if starts_reference(&chars[i..].iter().collect::<String>()) => {
                out.push_str("&amp;")
            }
            '\\' | '`' | '*' | '~' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '(' if i > 0 && chars[i - 1] == ']' => out.push_str("\\("),
            '_' => {
                let prev_word = i > 0 && chars[i - 1].is_alphanumeric();
                let next_word = chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
                if prev_word && next_word {
                    out.push('_');
                } else {
                    out.push_str("\\_");
                }
            }
            c => out.push(c),
        }
    }
}

/// Escapes a block marker at the start of an escaped line (`#`, `-`, `+`, `=`, `>`, `1.`).
/// `*` is already escaped by [`escape_word`].
fn protect_line_start(line: String) -> String {
    let mut chars = line.chars();
    match chars.next() {
        Some('#' | '-' | '+' | '=' | '>') => format!("\\{line}"),
        Some(c) if c.is_ascii_digit() => {
            // `12.` or `12)` starts an ordered list: escape the delimiter.
            let digits = line.chars().take_while(char::is_ascii_digit).count();
            match line[digits..].chars().next() {
                Some(d @ ('.' | ')')) => format!("{}\\{d}{}", &line[..digits], &line[digits + 1..]),
                _ => line,
            }
        }
        _ => line,
    }
}

/// Escapes a single line that has already been cleaned and has no `\n`.
fn escape_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    for (i, word) in line.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if is_url_like(word) {
            out.push_str(&url_code(word));
        } else {
            escape_word(word, &mut out);
        }
    }
    protect_line_start(out)
}

/// User text for a plain (non-markdown) field such as `name` or `description`: controls and
/// invisible formatting characters (bidi overrides, zero-width) dropped, line breaks
/// normalised (to spaces when `single_line`), at most `max` characters (cut with `…`).
/// Nothing is escaped: the field is not markdown.
pub fn plain(s: &str, max: usize, single_line: bool) -> String {
    let mut s = clean(s);
    if single_line {
        s = s.replace('\n', " ");
    }
    if s.chars().count() <= max {
        return s;
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// User text for an inline context (heading, list item, table cell): cleaned, whitespace
/// collapsed to single spaces, trimmed, escaped. Never contains a newline.
pub fn inline(s: &str) -> String {
    escape_line(&clean(s))
}

/// Like [`inline`], cut to at most `max` characters of *source* text with an ellipsis, for
/// long descriptions inside lists and tables. Markdown table rows in the source (dbt
/// descriptions hold them) read as "cell · cell;" and separator rows go, since the line
/// breaks that made them a table collapse here.
pub fn inline_capped(s: &str, max: usize) -> String {
    let source: Vec<String> = clean(s)
        .split('\n')
        .filter_map(|line| {
            let t = line.trim();
            if !(t.starts_with('|') && t.ends_with('|') && t.len() > 1) {
                return Some(line.to_owned());
            }
            let cells: Vec<&str> = t[1..t.len() - 1].split('|').map(str::trim).collect();
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
            {
                return None;
            }
            Some(format!("{};", cells.join(" · ")))
        })
        .collect();
    // Already decoded: escape without decoding a second time.
    escape_line(&cap_source(&source.join("\n"), max))
}

/// Cuts source text to `max` characters plus a visible `…`. The cut falls, in order of
/// preference, at a line break, after a sentence, or between words, whichever is last in the
/// second half of the budget; so a long dbt description never ends mid table row or mid word
/// when it can be helped. A cut at a line or sentence boundary puts a space before the `…`.
fn cap_source(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max).collect();
    let half = cut.len() / 2;
    let sentence_end = cut
        .match_indices(['.', '!', '?', ';'])
        .map(|(i, m)| i + m.len())
        .rfind(|&e| cut[e..].starts_with(char::is_whitespace));
    let (kept, boundary) = match (cut.rfind('\n'), sentence_end) {
        (Some(i), _) if i > half => (&cut[..i], true),
        (_, Some(e)) if e > half => (&cut[..e], true),
        _ => match cut.rfind(char::is_whitespace) {
            Some(i) if i > half => (&cut[..i], false),
            _ => (cut.as_str(), false),
        },
    };
    let sep = if boundary { " " } else { "" };
    format!("{}{sep}…", kept.trim_end())
}

/// User text for a block context (a description): paragraphs kept (runs of blank lines
/// become one blank line), each line escaped like [`inline`], trimmed.
pub fn block(s: &str) -> String {
    lines_to_block(clean(s).split('\n').map(escape_line))
}

/// Joins escaped lines, collapsing blank runs to one blank line and trimming both ends.
fn lines_to_block(lines: impl Iterator<Item = String>) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// Whether a block is empty once cleaned.
pub fn is_blank(s: Option<&str>) -> bool {
    s.is_none_or(|s| clean(s).trim().is_empty())
}

/// A markdown tile's content as plain text lines: headings, quotes, emphasis, code fences,
/// HTML tags, images and link targets are stripped (a link keeps its text), list items
/// become `- item`; then every line is escaped. The source is capped at `max` characters.
/// The markup is stripped rather than escaped because the AI needs the words, and escaped
/// markup costs tokens and reads badly.
pub fn markdown_tile(content: &str, max: usize) -> String {
    let source = cap_source(&clean(content), max);
    let lines = source.split('\n').filter_map(|raw| {
        let line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            return None;
        }
        // Thematic breaks and table separator rows carry no words.
        if !line.is_empty()
            && line
                .chars()
                .all(|c| matches!(c, '-' | '*' | '_' | '=' | '|' | ':' | ' '))
        {
            return None;
        }
        let mut line = line.trim_start_matches(['#', '>', ' ']).to_owned();
        let mut bullet = false;
        for marker in ["- ", "* ", "+ "] {
            if let Some(rest) = line.strip_prefix(marker) {
                line = rest.to_owned();
                bullet = true;
                break;
            }
        }
        let text = strip_inline_markup(&line);
        let escaped = escape_line(&text);
        Some(if bullet && !escaped.is_empty() {
            // Our own list marker, in front of escaped text.
            format!("- {escaped}")
        } else {
            escaped
        })
    });
    lines_to_block(lines)
}

/// Removes inline markup from one markdown line: `![alt](url)` → `alt`, `[text](url)` →
/// `text`, HTML tags, and emphasis/code markers. Table pipes become spaced separators.
fn strip_inline_markup(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '!' if chars.get(i + 1) == Some(&'[') => i += 1,
            '[' => i += 1,
            ']' if chars.get(i + 1) == Some(&'(') => {
                // Skip the link target.
                let close = chars[i..].iter().position(|&c| c == ')');
                i = close.map_or(chars.len(), |p| i + p + 1);
            }
            ']' => i += 1,
            '<' => {
                // Drop an HTML tag or autolink; a lone `<` stays (escaped later).
                match chars[i..].iter().position(|&c| c == '>') {
                    Some(p)
                        if chars
                            .get(i + 1)
                            .is_some_and(|n| n.is_alphabetic() || *n == '/' || *n == '!') =>
                    {
                        i += p + 1;
                    }
                    _ => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            '*' | '`' | '~' => i += 1,
            '_' if !(i > 0
                && chars[i - 1].is_alphanumeric()
                && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())) =>
            {
                i += 1
            }
            '|' => {
                out.push_str(" · ");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(['·', ' '])
        .to_owned()
}

/// An inline code span for text we show verbatim (SQL, ids): cleaned, whitespace collapsed,
/// capped at `max` characters, with a fence longer than any backtick run inside.
/// Code spans are inert in every renderer (no HTML, no links), so nothing else is escaped,
/// and character references are not decoded: code is shown as its author wrote it.
/// Only use it in list items or prose, never in table cells (a `|` would end the cell).
pub fn code(s: &str, max: usize) -> String {
    let text = cap_source(
        &normalise(s)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        max,
    );
    if text.is_empty() {
        return String::new();
    }
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // A span that starts or ends with a backtick needs a space so the fence stays separate.
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A URL we built ourselves (site URL from the config plus uuids from the API), made safe to
/// print as plain text: characters that could end it early or break the markdown are
/// percent-encoded.
pub fn our_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_alphanumeric() || "-._~:/?#@!$&'+,;=%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            inline("<script>alert(1)</script> & co"),
            "&lt;script>alert(1)&lt;/script> & co"
        );
        assert_eq!(inline("a <b and 1<2 <!-- x"), "a &lt;b and 1<2 &lt;!-- x");
    }

    #[test]
    fn references_are_decoded_once_then_escaped_once() {
        // Field case 12 and issue 15: a markdown tile and a tab name.
        assert_eq!(
            markdown_tile("show only values &gt;10%", 100),
            "show only values >10%"
        );
        assert_eq!(inline("Revenue &amp; Plans"), "Revenue & Plans");
        assert_eq!(inline("Revenue & Plans"), "Revenue & Plans");
        assert_eq!(inline("it&#39;s &#x2019;q&rsquo;"), "it's ’q’");
        // Decoded once only: a double-encoded reference shows as the reference text, which
        // is escaped so it stays text.
        assert_eq!(inline("&amp;gt;"), "&amp;gt;");
        assert_eq!(inline_capped("&amp;gt; x", 100), "&amp;gt; x");
        assert_eq!(markdown_tile("&amp;lt;b&amp;gt;", 100), "&amp;lt;b&amp;gt;");
        // Code is shown as written: no decoding.
        assert_eq!(code("a = '&amp;'", 100), "`a = '&amp;'`");
        // Unknown or incomplete references stay as typed; live ones are neutralised.
        assert_eq!(inline("AT&T &unknown; &copy"), "AT&T &amp;unknown; &copy");
        // A decoded tag is escaped like a typed one, and decoded invisibles are stripped.
        assert_eq!(inline("&lt;img src=x&gt;"), "&lt;img src=x>");
        assert_eq!(inline("a&#x202E;b&#0;c"), "ab&amp;#0;c");
        assert_eq!(plain("Q&amp;A", 100, true), "Q&A");
    }

    #[test]
    fn table_rows_in_descriptions_read_as_cells() {
        let d = "Stages:\n| stage | meaning |\n|---|---|\n| New | not yet qualified |";
        assert_eq!(
            inline_capped(d, 500),
            "Stages: stage · meaning; New · not yet qualified;"
        );
    }

    #[test]
    fn long_text_is_cut_at_a_line_or_sentence() {
        let table =
            "Orders placed online.\n| status | meaning |\n|---|---|\n| placed | new order |";
        // A line boundary in the second half wins.
        assert_eq!(
            cap_source(table, 60),
            "Orders placed online.\n| status | meaning |\n|---|---| …"
        );
        // Else a sentence end.
        let prose = "One sentence here. Another one that goes on and on without end";
        assert_eq!(cap_source(prose, 34), "One sentence here. …");
        // Else a word.
        assert_eq!(cap_source("alpha beta gamma delta", 12), "alpha beta…");
    }

    #[test]
    fn plain_fields_lose_controls_and_bidi_and_are_capped() {
        assert_eq!(plain("a\u{202E}b\u{200B}c\u{0007}d", 100, true), "abcd");
        assert_eq!(plain("one\r\ntwo\u{2028}three", 100, true), "one two three");
        assert_eq!(plain("one\r\ntwo", 100, false), "one\ntwo");
        assert_eq!(plain("<b>|*x*|</b>", 100, true), "<b>|*x*|</b>");
        assert_eq!(plain("ééééé", 3, true), "éé…");
        assert_eq!(
            plain(&"x".repeat(5_000_000), 1_000, true).chars().count(),
            1_000
        );
    }

    #[test]
    fn links_and_images_are_neutralised() {
        assert_eq!(inline("[x](javascript:y)"), "\\[x\\]\\(javascript:y)");
        assert_eq!(inline("![i](u)"), "!\\[i\\]\\(u)");
        assert!(!inline("see [a](b) and ![c](d)").contains("]("));
        assert_eq!(inline("<http://x.io>"), "`%3Chttp://x.io%3E`");
        assert_eq!(
            inline("go to https://e.com/a|b now"),
            "go to `https://e.com/a%7Cb` now"
        );
        assert_eq!(inline("www.evil.com"), "`www.evil.com`");
        assert_eq!(inline("mail bob@corp.io"), "mail `bob@corp.io`");
        assert_eq!(inline("Sales @ EMEA"), "Sales @ EMEA");
    }

    #[test]
    fn table_pipes_and_newlines() {
        assert_eq!(inline("a|b\nc\r\nd"), "a\\|b c d");
        assert!(!inline("x\n\n# Heading").contains('\n'));
    }

    #[test]
    fn controls_and_bidi_are_stripped() {
        assert_eq!(
            inline("a\u{202E}b\u{200B}c\u{FEFF}d\u{0007}e\u{2066}f"),
            "abcdef"
        );
        assert_eq!(inline("tab\there"), "tab here");
        assert_eq!(block("l1\u{0000}\nl2"), "l1\nl2");
    }

    #[test]
    fn emphasis_and_code_markers() {
        assert_eq!(
            inline("*bold* `code` ~~s~~"),
            "\\*bold\\* \\`code\\` \\~\\~s\\~\\~"
        );
        assert_eq!(inline("order_items _x_"), "order_items \\_x\\_");
        assert_eq!(inline("back\\slash"), "back\\\\slash");
    }

    #[test]
    fn line_starts_are_protected() {
        assert_eq!(inline("# Title"), "\\# Title");
        assert_eq!(inline("- item"), "\\- item");
        assert_eq!(inline("1. first"), "1\\. first");
        assert_eq!(inline("2024 revenue"), "2024 revenue");
        assert_eq!(
            block("ok\n# h\n> q\n+ p\n\n\n\n3) x"),
            "ok\n\\# h\n\\> q\n\\+ p\n\n3\\) x"
        );
    }

    #[test]
    fn block_trims_and_collapses_blank_lines() {
        assert_eq!(block("\n\n  a  \n\n\n\nb\n\n"), "a\n\nb");
        assert!(is_blank(Some(" \u{200B}\n ")));
        assert!(is_blank(None));
        assert!(!is_blank(Some("x")));
    }

    #[test]
    fn markdown_tiles_become_plain_text() {
        let md = "# Welcome\n\nThis **dashboard** shows [revenue](https://x.io) \
                  <b>daily</b>.\n\n* first\n- second\n\n```\nselect 1\n```\n---\n![logo](l.png)\n| a | b |\n|---|---|";
        assert_eq!(
            markdown_tile(md, 1000),
            "Welcome\n\nThis dashboard shows revenue daily.\n\n- first\n- second\n\nselect 1\nlogo\na · b"
        );
        let long = "word ".repeat(100);
        let capped = markdown_tile(&long, 50);
        assert!(capped.chars().count() <= 51, "{capped}");
        assert!(capped.ends_with('…'));
    }

    #[test]
    fn code_spans_pick_a_safe_fence() {
        assert_eq!(
            code("SUM(${orders.amount})", 100),
            "`SUM(${orders.amount})`"
        );
        assert_eq!(code("a `b` c", 100), "``a `b` c``");
        assert_eq!(code("`x", 100), "`` `x ``");
        assert_eq!(code("select\n  1", 100), "`select 1`");
        assert_eq!(code("", 100), "");
    }

    #[test]
    fn our_urls_are_percent_encoded() {
        assert_eq!(
            our_url("https://ld.io/projects/p 1/saved/<x>)"),
            "https://ld.io/projects/p%201/saved/%3Cx%3E%29"
        );
    }

    #[test]
    fn capped_inline_adds_ellipsis() {
        assert_eq!(inline_capped("alpha beta gamma delta", 12), "alpha beta…");
        assert_eq!(inline_capped("short", 12), "short");
    }
}
