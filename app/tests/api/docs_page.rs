//! `/docs`: the page that shows `/openapi.json`. The page is served as it is; its renderer (the
//! script between the `BEGIN renderer` and `END renderer` markers) runs here under node on the
//! live document, so a route the page fails to show, or text it fails to escape, fails a test.
//! node comes from Debian's `nodejs` (scripts/setup.sh installs it); without it these fail.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

/// Runs the page's renderer under node: `render(spec)` and a few `requestUrl` calls.
fn render_with_node(page: &str, spec: &Value) -> Value {
    let start = page
        .find("// BEGIN renderer")
        .expect("BEGIN renderer marker");
    let end = page.find("// END renderer").expect("END renderer marker");
    let renderer = &page[start..end];
    let harness = format!(
        "{renderer}\n\
         const spec = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n\
         const out = render(spec);\n\
         out.urls = [\n\
           requestUrl('/disks/{{id}}', [{{name: 'id', where: 'path', value: '7'}}]),\n\
           requestUrl('/disks', [{{name: 'artist', where: 'query', value: 'a b&c'}}, {{name: 'limit', where: 'query', value: ''}}]),\n\
           requestUrl('/', []),\n\
           requestUrl('/start', [{{name: 'Authorization', where: 'header', value: 'Bearer x'}}]),\n\
         ];\n\
         process.stdout.write(JSON.stringify(out));\n"
    );
    let mut child = Command::new("node")
        .args(["-e", &harness])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed (Debian's nodejs; scripts/setup.sh installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(spec.to_string().as_bytes())
        .expect("writing the document to node");
    let output = child.wait_with_output().expect("node ran");
    assert!(
        output.status.success(),
        "the renderer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the renderer's JSON")
}

#[tokio::test]
async fn docs_page_is_html_that_reads_the_document_and_loads_nothing_from_elsewhere() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let reply = app.get("/docs").await;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let csp = reply.header("content-security-policy").expect("a CSP");
    for directive in [
        "default-src 'none'",
        "connect-src 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    // It reads the document relative to itself (so it works under /replicas/appN/ too).
    assert!(reply.text.contains("fetch(\"openapi.json\")"));
    // Nothing from another origin: no absolute or protocol-relative src/href, no @import.
    for needle in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "url(",
    ] {
        assert!(!reply.text.contains(needle), "{needle} in /docs");
    }
}

#[tokio::test]
async fn docs_page_shows_every_documented_route_and_schema_of_the_live_document() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app.get("/docs").await.text;
    let spec = app.openapi().await.json;
    let out = render_with_node(&page, &spec);
    let content = out["content"].as_str().expect("content");
    let nav = out["nav"].as_str().expect("nav");
    let paths = spec["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let heading = format!(
                "<span class=\"method {method}\">{}</span><span class=\"path\">{path}</span>",
                method.to_uppercase()
            );
            assert!(content.contains(&heading), "{method} {path} not shown");
            let anchor = format!(
                "op-{method}-{}",
                path.split(|c: char| !c.is_ascii_alphanumeric())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("-")
            );
            assert!(
                nav.contains(&format!("href=\"#{anchor}\"")),
                "no link to {anchor}"
            );
        }
    }
    assert!(
        operations >= 24,
        "only {operations} operations in the document"
    );
    // The /docs route itself is documented, and the page shows every schema's fields.
    assert!(content.contains("<span class=\"path\">/docs</span>"));
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        assert!(
            content.contains(&format!("id=\"schema-{name}\"")),
            "schema {name} not shown"
        );
        for field in schema["properties"].as_object().into_iter().flatten() {
            assert!(
                content.contains(&format!("<code>{}</code>", field.0)),
                "{name}.{} not shown",
                field.0
            );
        }
    }
    // POST /orders gets a Try-it form with an example body built from its schema.
    assert!(content.contains("data-method=\"post\" data-path=\"/orders\""));
    assert!(
        content.contains("&quot;customer_id&quot;"),
        "no example order body"
    );
    // Header parameters get a field too: the order's Idempotency-Key.
    assert!(content.contains("name=\"Idempotency-Key\" data-in=\"header\""));
    // The stress routes ask for the bearer token.
    assert!(content.contains("placeholder=\"Bearer STRESS_TOKEN\""));
    assert_eq!(
        out["urls"],
        json!(["disks/7", "disks?artist=a%20b%26c", "./", "start"])
    );
}

#[tokio::test]
async fn docs_page_escapes_what_the_document_says() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app.get("/docs").await.text;
    let evil = "<img src=x onerror=alert(1)>";
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": evil, "version": "1"},
        "paths": {"/x/{id}": {"get": {
            "tags": [evil],
            "summary": evil,
            "parameters": [{"name": evil, "in": "path", "required": true,
                            "description": evil, "schema": {"type": "string", "example": evil}}],
            "responses": {"200": {"description": evil}}
        }}},
        "components": {"schemas": {"S": {"type": "object", "description": evil,
            "properties": {"f\"><script>": {"type": "string", "description": evil}}}}}
    });
    let out = render_with_node(&page, &spec);
    for part in ["content", "nav"] {
        let html = out[part].as_str().expect(part);
        assert!(!html.contains("<img"), "unescaped markup in {part}: {html}");
        assert!(
            !html.contains("<script>"),
            "unescaped markup in {part}: {html}"
        );
    }
    assert!(out["content"]
        .as_str()
        .unwrap()
        .contains("&lt;img src=x onerror=alert(1)&gt;"));
}
