//! The saved pages the parser is unit-tested on (`tests/pages/`) are exact
//! copies of the design notes' samples (`../shared/docs/sunat-samples/`),
//! two of them captured from the real SUNAT site.

use std::path::Path;

#[test]
fn saved_pages_are_the_design_notes_samples() {
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("pages");
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/docs/sunat-samples");
    assert!(
        shared.is_dir(),
        "{} is missing: the design notes must sit next to the repository (as in CI)",
        shared.display()
    );
    for file in [
        "result.html",
        "notfound.html",
        "captured/10401510465.html",
        "captured/20440374248.html",
        "captured/expected.json",
    ] {
        let copy = std::fs::read(ours.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let original = std::fs::read(shared.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(copy == original, "tests/pages/{file} differs from the shared sample");
    }
}
