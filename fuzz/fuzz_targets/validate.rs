//! Fuzz target: arbitrary bytes as a playbook's text, through `plan::validate`
//! and the rendering of every diagnostic. It must never panic, hang or run out of
//! memory, and every diagnostic must point inside the file.

#![no_main]

use cutover::playbook::{Diagnostics, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Not UTF-8 is refused before parsing (`Source::read`); replacing the bad bytes
    // keeps the rest of the input useful to the parser.
    let text = String::from_utf8_lossy(data);
    let source = Source::new("fuzz.yaml", text.as_ref());
    let diagnostics = match cutover::plan::validate(&source) {
        Ok((_, warnings)) => warnings,
        Err(errors) => {
            assert!(errors.has_errors(), "an invalid playbook without an error");
            errors
        }
    };
    render_all(&source, diagnostics);
});

fn render_all(source: &Source, diagnostics: Diagnostics) {
    // Lines as YAML counts them (`\r\n`, `\r` and `\n` each end one), plus one: a
    // position may sit just past the last line (an error at the end of input).
    let lines = source
        .text()
        .replace("\r\n", "\n")
        .matches(['\n', '\r'])
        .count()
        + 2;
    for diagnostic in diagnostics.sorted() {
        let span = diagnostic.span;
        assert!(
            span.line >= 1 && span.col >= 1 && span.line <= lines,
            "diagnostic outside the file: {span:?} ({lines} lines): {}",
            diagnostic.message
        );
        let rendered = diagnostic.render(source);
        assert!(
            rendered.starts_with(&format!("fuzz.yaml:{}:{}: ", span.line, span.col)),
            "rendered without its location: {rendered}"
        );
    }
}
