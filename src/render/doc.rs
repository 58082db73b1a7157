//! A description as ordered parts, fitted to `sync.max_description_chars` by leaving out the
//! least important sections first. PURE.
//!
//! A part is either kept always (the title, the lead paragraph, the bookkeeping) or a
//! `## Section` with a rank: rank 1 goes first when the text is too long. After leaving out
//! enough, sections left out early are put back, most important first, wherever they still
//! fit, so a small section is not lost for a big one. A visible line names what was left
//! out. If the kept parts alone are too long, [`super::common::truncate`] cuts the end.

use super::common::truncate;

/// One part of a description.
#[derive(Debug)]
struct Part {
    /// `None`: always kept. `Some((rank, title))`: a section that may be left out.
    section: Option<(u8, &'static str)>,
    text: String,
}

/// A description being built.
#[derive(Debug, Default)]
pub struct Doc {
    parts: Vec<Part>,
}

impl Doc {
    /// Starts a description.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds text that is always kept (its own line breaks included).
    pub fn always(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !text.is_empty() {
            self.parts.push(Part {
                section: None,
                text,
            });
        }
    }

    /// Adds `## {title}` and `body` as a section that may be left out for length; rank 1 is
    /// left out first. An empty body adds nothing: no empty sections.
    pub fn section(&mut self, rank: u8, title: &'static str, body: &str) {
        let body = body.trim_end();
        if body.trim().is_empty() {
            return;
        }
        self.parts.push(Part {
            section: Some((rank, title)),
            text: format!("\n## {title}\n\n{body}\n"),
        });
    }

    fn assemble(&self, keep: &[bool], left_out: &[&'static str]) -> String {
        let mut out: String = self
            .parts
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(p, _)| p.text.as_str())
            .collect();
        if !left_out.is_empty() {
            let mut names: Vec<&str> = left_out.to_vec();
            names.dedup();
            out.push_str(&format!("\n(Left out for length: {}.)\n", names.join(", ")));
        }
        out.trim_end().to_owned()
    }

    /// The markdown, at most `cap` characters.
    pub fn finish(self, cap: usize) -> String {
        let mut keep = vec![true; self.parts.len()];
        let full = self.assemble(&keep, &[]);
        if full.chars().count() <= cap {
            return full;
        }
        // Sections in the order they are left out: by rank, later parts first within a rank.
        let mut order: Vec<usize> = (0..self.parts.len())
            .filter(|&i| self.parts[i].section.is_some())
            .collect();
        order.sort_by_key(|&i| (self.parts[i].section.map(|s| s.0), std::cmp::Reverse(i)));
        let names = |keep: &[bool]| -> Vec<&'static str> {
            let mut n: Vec<&'static str> = Vec::new();
            for (p, k) in self.parts.iter().zip(keep) {
                if let (Some((_, title)), false) = (p.section, *k)
                    && !n.contains(&title)
                {
                    n.push(title);
                }
            }
            n
        };
        let fits = |keep: &[bool]| self.assemble(keep, &names(keep)).chars().count() <= cap;
        let mut dropped = Vec::new();
        for &i in &order {
            if fits(&keep) {
                break;
            }
            keep[i] = false;
            dropped.push(i);
        }
        for &i in dropped.iter().rev() {
            keep[i] = true;
            if !fits(&keep) {
                keep[i] = false;
            }
        }
        truncate(&self.assemble(&keep, &names(&keep)), cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Doc {
        let mut d = Doc::new();
        d.always("# Title\n\nLead paragraph.\n");
        d.section(5, "Fields", &"| a | b |\n".repeat(10));
        d.section(1, "Sorted by", "- A ascending");
        d.section(2, "Definitions", &"- x (metric): sum of `y`\n".repeat(20));
        d.section(3, "Empty", "  \n");
        d
    }

    #[test]
    fn everything_is_kept_when_it_fits() {
        let out = doc().finish(10_000);
        assert!(out.contains("## Definitions") && out.contains("## Sorted by"));
        assert!(
            !out.contains("## Empty"),
            "empty sections are never written"
        );
        assert!(!out.contains("Left out"));
    }

    #[test]
    fn least_important_sections_go_first_and_small_ones_come_back() {
        let full = doc().finish(10_000).chars().count();
        // Too long by a little: dropping "Sorted by" (rank 1) alone would not do, so
        // Definitions goes, and "Sorted by" comes back.
        let out = doc().finish(full - 20);
        assert!(out.chars().count() <= full - 20);
        assert!(!out.contains("## Definitions"), "{out}");
        assert!(out.contains("## Sorted by"), "{out}");
        assert!(out.contains("## Fields"));
        assert!(
            out.ends_with("(Left out for length: Definitions.)"),
            "{out}"
        );
        // Very small: the kept parts are truncated with the usual marker.
        let tiny = doc().finish(60);
        assert!(tiny.chars().count() <= 60);
        assert!(tiny.starts_with("# Title"));
    }
}
