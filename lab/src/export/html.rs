//! `report.html` and `compare.html`: the Markdown report as one HTML file that opens from a
//! file manager, with every plot inlined as SVG (the `.svg` drawn beside each `.png`), so the
//! file can be mailed or attached on its own. It loads nothing: no script, no font, no style
//! sheet from anywhere.
//!
//! The Markdown is the one `report.md`/`compare.md` the exporters write, rendered by
//! pulldown-cmark; text that came from a user (labels, profile names) is escaped, raw HTML in
//! it included. A plot whose SVG is missing becomes a line saying so.

use std::fs;
use std::path::{Path, PathBuf};

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

use super::files::write_atomic;

/// The page's style: readable tables, plots scaled to the window.
const STYLE: &str = "body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
color:#1d2330;max-width:1200px;margin:0 auto;padding:1rem 2rem 4rem}\
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem;display:block;overflow-x:auto}\
th,td{border:1px solid #d9dee8;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f6f8fb}code{background:#eef1f6;padding:0 .2rem;border-radius:3px}\
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}\
figcaption{color:#5b6475;font-size:.85rem}.missing{color:#c53030}";

/// Renders `markdown` (a report of the folder `dir`) as one self-contained HTML page.
pub fn page(title: &str, markdown: &str, dir: &Path) -> String {
    let mut events = Vec::new();
    let mut parser = Parser::new_ext(markdown, Options::ENABLE_TABLES);
    while let Some(event) = parser.next() {
        match event {
            Event::Start(Tag::Image { dest_url, .. }) => {
                // The alt text's events, up to the image's end, become the caption.
                let mut caption = String::new();
                for inner in parser.by_ref() {
                    match inner {
                        Event::End(TagEnd::Image) => break,
                        Event::Text(text) | Event::Code(text) => caption.push_str(&text),
                        _ => {}
                    }
                }
                events.push(Event::Html(CowStr::from(figure(dir, &dest_url, &caption))));
            }
            // Raw HTML in the Markdown can only have come from a label: show it as text.
            Event::Html(text) | Event::InlineHtml(text) => events.push(Event::Text(text)),
            other => events.push(other),
        }
    }
    let mut body = String::new();
    html::push_html(&mut body, events.into_iter());
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// A plot as an inline SVG figure; `dest` is the `.png` the Markdown names.
fn figure(dir: &Path, dest: &str, caption: &str) -> String {
    let svg_name = Path::new(dest).with_extension("svg");
    let inline = fs::read_to_string(dir.join(&svg_name))
        .ok()
        .and_then(|svg| svg.find("<svg").map(|start| svg[start..].to_owned()));
    match inline {
        Some(svg) => format!(
            "<figure>{svg}<figcaption>{}</figcaption></figure>\n",
            escape(caption)
        ),
        None => format!(
            "<p class=\"missing\">plot {} is missing from this folder</p>\n",
            escape(&svg_name.display().to_string())
        ),
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped (pulldown-cmark's own escaper).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Writing to a String cannot fail.
    let _ = pulldown_cmark_escape::escape_html(&mut out, text);
    out
}

/// Writes `<dir>/<stem>.html` from `<dir>/<stem>.md` (after the plots are drawn).
pub fn write_from_markdown(dir: &Path, stem: &str, title: &str) -> anyhow::Result<PathBuf> {
    let md_path = dir.join(format!("{stem}.md"));
    let markdown = fs::read_to_string(&md_path)
        .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", md_path.display()))?;
    let path = dir.join(format!("{stem}.html"));
    write_atomic(&path, &page(title, &markdown, dir))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::files::write_all;
    use crate::plot;
    use crate::results::fixture;

    #[test]
    fn a_report_links_only_the_plots_that_were_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let run = fixture::run();
        write_all(&run, dir.path()).unwrap();
        let markdown = fs::read_to_string(dir.path().join("report.md")).unwrap();
        assert!(
            !markdown.contains("]("),
            "links to plots not drawn:\n{markdown}"
        );
        assert!(markdown.contains("`throughput.png` is not in this folder; `lab report` draws it"));
    }

    #[test]
    fn a_run_report_becomes_one_page_with_every_plot_inline() {
        let dir = tempfile::tempdir().unwrap();
        let run = fixture::run();
        // As lab bench does: the plots, then report.md linking those that exist.
        plot::draw_run(&run, dir.path()).unwrap();
        write_all(&run, dir.path()).unwrap();
        let path = write_from_markdown(dir.path(), "report", "a run").unwrap();
        let html = fs::read_to_string(path).unwrap();
        let markdown = fs::read_to_string(dir.path().join("report.md")).unwrap();
        let plots = markdown.matches("![").count();
        assert!(plots >= 4, "{plots} plots in the report");
        assert_eq!(html.matches("<figure><svg").count(), plots);
        assert!(!html.contains("class=\"missing\""));
        assert!(!html.contains("<img"), "a plot left as an image");
        assert!(
            html.contains("<table>") && html.contains("<th>"),
            "tables not rendered"
        );
        // Nothing is fetched: no script, no link, no URL to another origin in an attribute.
        for needle in ["<script", "<link", "src=\"http", "href=\"http", "@import"] {
            assert!(!html.contains(needle), "{needle} in report.html");
        }
    }

    #[test]
    fn raw_html_is_shown_as_text_and_a_missing_plot_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let md =
            "# Run <script>alert(1)</script>\n\n| a |\n|---|\n| <b>x</b> |\n\n![gone](nope.png)\n";
        let html = page("t<", md, dir.path());
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<title>t&lt;</title>"));
        assert!(html.contains("plot nope.svg is missing"), "{html}");
    }
}
