//! Each program in `examples/` opens with the `[dependencies]` block a reader copies into a new
//! crate. These tests keep that block honest:
//!
//! * it names every crate the example uses (`use tokio::…`, `tokio::spawn`, `#[tokio::main]`),
//!   and no crate the example does not use;
//! * its versions are the ones this repo builds and tests with (Cargo.lock): same major, and
//!   same minor for 0.x;
//! * its features are ones this repo enables for that crate (so they exist), rumqttc's exactly
//!   as in Cargo.toml but for those only the tool needs (`RUMQTTC_TOOL_ONLY`), with the same
//!   `default-features`, and tokio's exactly those the code needs, no more;
//! * and, the proof: each example builds in a scratch crate of its own from its block alone
//!   (`examples_build_from_their_headers_alone`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// rumqttc features the tool enables and the examples do not need: an example's header may
/// leave them out (and should, to stay small).
const RUMQTTC_TOOL_ONLY: &[&str] = &["proxy"];

const STD_ROOTS: &[&str] = &["std", "core", "alloc", "crate", "self", "super", "Self"];
const PRIMITIVES: &[&str] = &[
    "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize", "f32",
    "f64", "bool", "char", "str",
];

/// The tokio features each part of tokio needs, by the name after `tokio::` (`tokio::time::…`).
/// A part not listed here fails the test until it is added: tokio's features are checked exactly.
const TOKIO_NEEDS: &[(&str, &[&str])] = &[
    // The default flavour of `#[tokio::main]` is the multi-threaded runtime.
    ("main", &["macros", "rt-multi-thread"]),
    ("test", &["macros", "rt"]),
    ("select", &["macros"]),
    ("join", &["macros"]),
    ("spawn", &["rt"]),
    ("task", &["rt"]),
    ("runtime", &["rt"]),
    ("time", &["time"]),
    ("sync", &["sync"]),
    ("signal", &["signal"]),
    ("net", &["net"]),
    ("fs", &["fs"]),
    ("process", &["process"]),
];
/// (crate, text in the code, features it needs): features the header must have, though it may
/// have more (rustls' `tls12`, for brokers without TLS 1.3).
const TEXT_NEEDS: &[(&str, &str, &[&str])] = &[
    ("rustls", "crypto::ring", &["ring"]),
    // PemObject's file readers exist only with rustls' (pki-types') `std`.
    ("rustls", "pem_file_iter", &["std"]),
    ("rustls", "from_pem_file", &["std"]),
];

/// One entry of a `[dependencies]` table.
#[derive(Debug, Clone, PartialEq)]
struct Dep {
    version: String,
    default_features: bool,
    features: BTreeSet<String>,
}

/// What this repo builds with: its own `[dependencies]` and the versions in Cargo.lock.
struct Repo {
    deps: BTreeMap<String, Dep>,
    locked: BTreeMap<String, String>,
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `examples/*.rs`, sorted by name.
fn examples() -> Vec<(String, String)> {
    let dir = manifest_dir().join("examples");
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let name = path
                .file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, read(&path))
        })
        .collect();
    found.sort();
    assert!(found.len() >= 2, "no examples found in {}", dir.display());
    found
}

fn repo() -> Repo {
    let manifest: toml::Table = read(&manifest_dir().join("Cargo.toml"))
        .parse()
        .expect("Cargo.toml parses");
    let deps = parse_deps(manifest.get("dependencies")).expect("Cargo.toml [dependencies]");

    let lock: toml::Table = read(&manifest_dir().join("Cargo.lock"))
        .parse()
        .expect("Cargo.lock parses");
    let packages = lock
        .get("package")
        .and_then(toml::Value::as_array)
        .expect("Cargo.lock has packages");
    let field =
        |p: &toml::Value, key: &str| p.get(key).and_then(toml::Value::as_str).map(str::to_owned);
    // Our own package lists its dependencies as "name" or, when Cargo.lock holds several
    // versions of one crate, "name version": that names the one we build with.
    let ours: Vec<String> = packages
        .iter()
        .find(|p| field(p, "name").as_deref() == Some(env!("CARGO_PKG_NAME")))
        .and_then(|p| p.get("dependencies")?.as_array().cloned())
        .expect("our package in Cargo.lock")
        .iter()
        .filter_map(|d| d.as_str().map(str::to_owned))
        .collect();
    let mut locked = BTreeMap::new();
    for name in deps.keys() {
        let versions: Vec<String> = packages
            .iter()
            .filter(|p| field(p, "name").as_deref() == Some(name))
            .filter_map(|p| field(p, "version"))
            .collect();
        let version = match versions.as_slice() {
            [one] => one.clone(),
            _ => ours
                .iter()
                .find_map(|d| d.strip_prefix(&format!("{name} ")).map(str::to_owned))
                .unwrap_or_else(|| panic!("Cargo.lock: which {name} of {versions:?}?")),
        };
        locked.insert(name.clone(), version);
    }
    Repo { deps, locked }
}

/// A `[dependencies]` table: `name = "1"` or `name = { version, default-features, features }`.
fn parse_deps(table: Option<&toml::Value>) -> Result<BTreeMap<String, Dep>, String> {
    let table = table
        .and_then(toml::Value::as_table)
        .ok_or("no [dependencies] table")?;
    let mut deps = BTreeMap::new();
    for (name, spec) in table {
        let dep = match spec {
            toml::Value::String(version) => Dep {
                version: version.clone(),
                default_features: true,
                features: BTreeSet::new(),
            },
            toml::Value::Table(fields) => {
                let mut dep = Dep {
                    version: String::new(),
                    default_features: true,
                    features: BTreeSet::new(),
                };
                for (key, value) in fields {
                    match (key.as_str(), value) {
                        ("version", toml::Value::String(v)) => dep.version = v.clone(),
                        ("default-features", toml::Value::Boolean(b)) => dep.default_features = *b,
                        ("features", toml::Value::Array(list)) => {
                            for feature in list {
                                let feature =
                                    feature.as_str().ok_or(format!("{name}: features"))?;
                                dep.features.insert(feature.to_owned());
                            }
                        }
                        // Fine in this repo's Cargo.toml; a reader's block has no use for them.
                        ("optional", _) => {}
                        _ => return Err(format!("{name}: unexpected `{key} = {value}`")),
                    }
                }
                if dep.version.is_empty() {
                    return Err(format!("{name}: no version"));
                }
                dep
            }
            other => return Err(format!("{name}: unexpected `{other}`")),
        };
        deps.insert(name.clone(), dep);
    }
    Ok(deps)
}

/// The text of the ```toml block in the example's opening `//!` comment.
fn header_block(source: &str) -> Result<String, String> {
    let doc: Vec<&str> = source
        .lines()
        .map_while(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    let start = doc
        .iter()
        .position(|line| line.trim() == "```toml")
        .ok_or("its opening //! comment has no ```toml block")?;
    let len = doc[start + 1..]
        .iter()
        .position(|line| line.trim() == "```")
        .ok_or("the ```toml block is not closed")?;
    Ok(doc[start + 1..start + 1 + len].join("\n") + "\n")
}

fn header_deps(block: &str) -> Result<BTreeMap<String, Dep>, String> {
    let table: toml::Table = block.parse().map_err(|e| format!("not TOML: {e}"))?;
    if let Some(other) = table.keys().find(|k| *k != "dependencies") {
        return Err(format!(
            "has a [{other}] table: only [dependencies] belongs there"
        ));
    }
    let deps = parse_deps(table.get("dependencies"))?;
    if block.contains("optional") {
        return Err("marks a dependency optional: a reader's crate needs them all".into());
    }
    Ok(deps)
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Rust tokens, enough to follow paths: comments, strings and char literals are dropped.
fn tokens(source: &str) -> Vec<Tok> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && matches!(next, Some('"') | Some('#')) && {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            chars.get(i + 1 + hashes) == Some(&'"')
        } {
            // r"…" or r#"…"#: ends at a quote followed by as many hashes.
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            i += 2 + hashes;
            while i < chars.len()
                && !(chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes)
            {
                i += 1;
            }
            i += 1 + hashes;
            out.push(Tok::Punct('"'));
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(Tok::Punct('"'));
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\''); a lifetime ('a) falls through as punctuation.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if !c.is_ascii_digit() {
                out.push(Tok::Ident(
                    word.strip_prefix("r#").unwrap_or(&word).to_owned(),
                ));
            }
        } else if c == ':' && next == Some(':') {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(Tok::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// Every path the code names, whole (`tokio::spawn`, `rumqttc::v5::Event`): the paths of its
/// `use` items, and the paths in the code, with a name that a `use` brought in (`env::args`)
/// replaced by where it came from (`std::env::args`).
fn paths(source: &str) -> Vec<Vec<String>> {
    let toks = tokens(source);
    let mut imported: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut used = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let is_use = toks[i] == Tok::Ident("use".into())
            && (i == 0
                || matches!(toks[i - 1], Tok::Punct(';' | '}' | ']' | '{'))
                || toks[i - 1] == Tok::Ident("pub".into()));
        if is_use {
            let end = toks[i..]
                .iter()
                .position(|t| *t == Tok::Punct(';'))
                .map_or(toks.len(), |p| i + p);
            let mut pos = i + 1;
            for path in use_tree(&toks[..end], &mut pos, Vec::new()) {
                let (name, full) = path;
                if name != "self" && name != "_" {
                    imported.insert(name, full.clone());
                }
                used.push(full);
            }
            i = end + 1;
        } else {
            rest.push(&toks[i]);
            i += 1;
        }
    }
    let mut i = 0;
    while i < rest.len() {
        let starts_path = matches!(rest[i], Tok::Ident(_))
            && rest.get(i + 1) == Some(&&Tok::PathSep)
            && matches!(rest.get(i + 2), Some(Tok::Ident(_)))
            && (i == 0 || !matches!(rest[i - 1], Tok::PathSep | Tok::Punct('.')));
        if !starts_path {
            i += 1;
            continue;
        }
        let mut path = Vec::new();
        while let Some(Tok::Ident(segment)) = rest.get(i) {
            path.push(segment.clone());
            if rest.get(i + 1) != Some(&&Tok::PathSep) {
                break;
            }
            i += 2;
        }
        let path = match imported.get(&path[0]) {
            Some(full) => [full.clone(), path[1..].to_vec()].concat(),
            None => path,
        };
        used.push(path);
        i += 1;
    }
    used
}

/// The paths in one `use` tree: (the name it brings in, the full path).
fn use_tree(toks: &[Tok], pos: &mut usize, prefix: Vec<String>) -> Vec<(String, Vec<String>)> {
    let mut path = prefix;
    let mut out = Vec::new();
    if toks.get(*pos) == Some(&Tok::PathSep) {
        *pos += 1; // `use ::tokio::…`
    }
    while *pos < toks.len() {
        match &toks[*pos] {
            Tok::Ident(name) if name == "as" => {
                if let Some(Tok::Ident(alias)) = toks.get(*pos + 1) {
                    out.push((alias.clone(), path.clone()));
                }
                *pos += 2;
                return out;
            }
            Tok::Ident(name) => {
                path.push(name.clone());
                *pos += 1;
                if toks.get(*pos) != Some(&Tok::PathSep) {
                    let last = if name == "self" {
                        path[path.len() - 2].clone()
                    } else {
                        name.clone()
                    };
                    let full = if name == "self" {
                        path[..path.len() - 1].to_vec()
                    } else {
                        path.clone()
                    };
                    out.push((last, full));
                    return out;
                }
                *pos += 1;
            }
            Tok::Punct('{') => {
                *pos += 1;
                loop {
                    match toks.get(*pos) {
                        Some(Tok::Punct('}')) | None => {
                            *pos += 1;
                            return out;
                        }
                        Some(Tok::Punct(',')) => *pos += 1,
                        Some(_) => out.extend(use_tree(toks, pos, path.clone())),
                    }
                }
            }
            Tok::Punct('*') => {
                *pos += 1;
                out.push(("*".into(), path.clone()));
                return out;
            }
            _ => {
                *pos += 1;
                return out;
            }
        }
    }
    out
}

/// The crates the code names, as the code spells them (`_`, where Cargo.toml may say `-`).
fn crates_used(paths: &[Vec<String>]) -> BTreeSet<String> {
    paths
        .iter()
        .map(|p| p[0].as_str())
        .filter(|root| root.starts_with(|c: char| c.is_lowercase() || c == '_'))
        .filter(|root| !STD_ROOTS.contains(root) && !PRIMITIVES.contains(root))
        .map(str::to_owned)
        .collect()
}

/// Semver caret: does `locked` (e.g. 0.25.1) satisfy `req` (e.g. "0.25")? 0.x needs the minor.
fn caret_allows(req: &str, locked: &str) -> Result<(), String> {
    let nums = |v: &str| -> Result<Vec<u64>, String> {
        let core = v.split(['-', '+']).next().unwrap_or(v);
        core.split('.')
            .map(|n| {
                n.parse()
                    .map_err(|_| format!("`{v}` is not a plain version"))
            })
            .collect()
    };
    let req_v = nums(req.strip_prefix('^').unwrap_or(req))?;
    let lock_v = nums(locked)?;
    if req_v.is_empty() || req_v.len() > 3 {
        return Err(format!("`{req}` is not a plain version"));
    }
    if req_v[0] == 0 && req_v.len() < 2 {
        return Err(format!("`{req}` allows any 0.x: name the minor version"));
    }
    let same_line = req_v[0] == lock_v[0] && (req_v[0] != 0 || req_v[1] == lock_v[1]);
    let padded: Vec<u64> = (0..3).map(|k| req_v.get(k).copied().unwrap_or(0)).collect();
    if !same_line || lock_v[..3] < padded[..] {
        return Err(format!(
            "\"{req}\" does not take {locked}, the version in Cargo.lock"
        ));
    }
    Ok(())
}

/// Features the code needs, per crate; an error for a tokio module the table does not know.
fn features_needed(
    source: &str,
    paths: &[Vec<String>],
) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut needed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in paths.iter().filter(|p| p[0] == "tokio") {
        let module = path.get(1).ok_or("a bare `tokio` path")?;
        let (_, features) = TOKIO_NEEDS
            .iter()
            .find(|(name, _)| name == module)
            .ok_or(format!(
                "uses `tokio::{module}`: add what it needs to TOKIO_NEEDS"
            ))?;
        let mut features = features.to_vec();
        if module == "main" && source.contains("current_thread") {
            features = vec!["macros", "rt"];
        }
        needed
            .entry("tokio".into())
            .or_default()
            .extend(features.iter().map(|f| f.to_string()));
    }
    if let Some(tokio) = needed.get_mut("tokio") {
        if tokio.contains("rt-multi-thread") {
            tokio.remove("rt"); // implied
        }
    }
    for (krate, text, features) in TEXT_NEEDS {
        if source.contains(text) {
            needed
                .entry(krate.to_string())
                .or_default()
                .extend(features.iter().map(|f| f.to_string()));
        }
    }
    Ok(needed)
}

/// What is wrong with one example's header, in words; empty when nothing is.
fn problems(source: &str, repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    let header = match header_block(source).and_then(|block| header_deps(&block)) {
        Ok(header) => header,
        Err(e) => return vec![format!("header: {e}")],
    };
    let paths = paths(source);
    let used = crates_used(&paths);
    let in_code = |krate: &String| krate.replace('-', "_");
    let listed: BTreeSet<String> = header.keys().map(in_code).collect();
    for krate in used.iter().filter(|k| !listed.contains(*k)) {
        problems.push(format!("uses `{krate}`, which its header does not list"));
    }
    for krate in header.keys().filter(|k| !used.contains(&in_code(k))) {
        problems.push(format!(
            "header lists `{krate}`, which the example never uses"
        ));
    }
    let needed = match features_needed(source, &paths) {
        Ok(needed) => needed,
        Err(e) => return [problems, vec![e]].concat(),
    };
    for (krate, dep) in &header {
        let (Some(ours), Some(locked)) = (repo.deps.get(krate), repo.locked.get(krate)) else {
            problems.push(format!(
                "header lists `{krate}`, which this repo does not depend on: nothing checks it"
            ));
            continue;
        };
        if let Err(e) = caret_allows(&dep.version, locked) {
            problems.push(format!("{krate}: {e}"));
        }
        if dep.default_features != ours.default_features {
            problems.push(format!(
                "{krate}: default-features = {} in the header, {} in Cargo.toml",
                dep.default_features, ours.default_features
            ));
        }
        let unknown: Vec<_> = dep.features.difference(&ours.features).collect();
        if !unknown.is_empty() {
            problems.push(format!(
                "{krate}: features {unknown:?} are not ones this repo enables (Cargo.toml: {:?})",
                ours.features
            ));
        }
        if krate == "rumqttc" {
            let without_tool_only = |features: &BTreeSet<String>| -> BTreeSet<String> {
                features
                    .iter()
                    .filter(|f| !RUMQTTC_TOOL_ONLY.contains(&f.as_str()))
                    .cloned()
                    .collect()
            };
            if without_tool_only(&dep.features) != without_tool_only(&ours.features) {
                problems.push(format!(
                    "rumqttc: features {:?} in the header, {:?} in Cargo.toml (the examples need not take {RUMQTTC_TOOL_ONLY:?})",
                    dep.features, ours.features
                ));
            }
        }
        let wanted = needed.get(krate).cloned().unwrap_or_default();
        let missing: Vec<_> = wanted.difference(&dep.features).collect();
        if !missing.is_empty() {
            problems.push(format!("{krate}: the code needs features {missing:?}"));
        }
        if krate == "tokio" && dep.features != wanted {
            let extra: Vec<_> = dep.features.difference(&wanted).collect();
            if !extra.is_empty() {
                problems.push(format!(
                    "tokio: features {extra:?} are not used by the code"
                ));
            }
        }
    }
    problems
}

#[test]
fn every_example_header_names_what_it_uses_at_our_versions() {
    let repo = repo();
    let mut report = String::new();
    for (name, source) in examples() {
        for problem in problems(&source, &repo) {
            report += &format!("examples/{name}.rs: {problem}\n");
        }
    }
    assert!(report.is_empty(), "{report}");
}

/// The checker itself: a header that is wrong in each way is caught, with words that say how.
#[test]
fn a_wrong_header_is_caught() {
    let repo = repo();
    let (_, good) = examples()
        .into_iter()
        .find(|(name, _)| name == "numbered_publisher")
        .expect("examples/numbered_publisher.rs");
    assert_eq!(problems(&good, &repo), Vec::<String>::new());

    let cases: &[(&str, &str, &str)] = &[
        (
            "//! tokio = { version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }\n",
            "",
            "uses `tokio`, which its header does not list",
        ),
        (
            "//! [dependencies]\n",
            "//! [dependencies]\n//! serde_json = \"1\"\n",
            "header lists `serde_json`, which the example never uses",
        ),
        (
            "rumqttc = { version = \"0.25\"",
            "rumqttc = { version = \"0.24\"",
            "rumqttc: \"0.24\" does not take 0.25.1",
        ),
        (
            "tokio = { version = \"1\"",
            "tokio = { version = \"2\"",
            "tokio: \"2\" does not take",
        ),
        (
            "features = [\"use-rustls-no-provider\"]",
            "features = [\"use-rustls\"]",
            "rumqttc: features",
        ),
        (
            "rumqttc = { version = \"0.25\", default-features = false, ",
            "rumqttc = { version = \"0.25\", ",
            "rumqttc: default-features = true in the header",
        ),
        (
            "\"macros\", \"rt-multi-thread\"",
            "\"macros\"",
            "tokio: the code needs features [\"rt-multi-thread\"]",
        ),
        (
            "\"macros\", \"rt-multi-thread\"",
            "\"macros\", \"rt-multi-thread\", \"time\"",
            "tokio: features [\"time\"] are not used",
        ),
        (
            "[\"ring\", \"std\", \"tls12\"]",
            "[\"std\", \"tls12\"]",
            "rustls: the code needs features [\"ring\"]",
        ),
        (
            "[\"ring\", \"std\", \"tls12\"]",
            "[\"ring\", \"std\", \"tls12\", \"fips\"]",
            "rustls: features [\"fips\"] are not ones this repo enables",
        ),
        ("//! ```toml\n", "//! ```text\n", "has no ```toml block"),
    ];
    for (from, to, expected) in cases {
        assert!(
            good.contains(from),
            "the example no longer contains {from:?}"
        );
        let bad = good.replacen(from, to, 1);
        let found = problems(&bad, &repo);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{from:?} → {to:?}: expected a problem containing {expected:?}, got {found:?}"
        );
    }

    // Code that uses more than its header says.
    let more = good.replacen(
        "    client.disconnect().await?;",
        "    tokio::time::sleep(std::time::Duration::from_millis(1)).await;\n    serde_json::to_string(&1)?;\n    client.disconnect().await?;",
        1,
    );
    let found = problems(&more, &repo);
    for expected in [
        "uses `serde_json`",
        "tokio: the code needs features [\"time\"]",
    ] {
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "expected {expected:?} in {found:?}"
        );
    }
}

#[test]
fn paths_follow_use_items_and_ignore_comments_and_strings() {
    let source = r#"
use std::{env, sync::Arc};
use rumqttc::v5::mqttbytes::{v5::Packet, QoS as Q};
// tokio::time::sleep in a comment
#[tokio::main]
async fn main() {
    let s = "serde_json::to_string";
    let _ = env::args();
    let c = '"';
    tokio::spawn(async {});
    let _: Vec<u8> = x.iter().collect::<Vec<_>>();
}
"#;
    let found = paths(source);
    let has = |p: &[&str]| found.iter().any(|f| f == p);
    assert!(has(&["std", "env", "args"]), "{found:?}");
    assert!(has(&["std", "sync", "Arc"]), "{found:?}");
    assert!(
        has(&["rumqttc", "v5", "mqttbytes", "v5", "Packet"]),
        "{found:?}"
    );
    assert!(has(&["rumqttc", "v5", "mqttbytes", "QoS"]), "{found:?}");
    assert!(
        has(&["tokio", "main"]) && has(&["tokio", "spawn"]),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|p| p.contains(&"time".to_string())),
        "{found:?}"
    );
    assert_eq!(
        crates_used(&found),
        BTreeSet::from(["rumqttc".to_string(), "tokio".to_string()])
    );
}

/// What cargo sets for the crate it builds or runs (the Cargo book, "Environment variables Cargo
/// sets for crates"), by name or prefix; not what a user sets to configure cargo.
const SET_BY_CARGO_FOR_TESTS: &[&str] = &[
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "OUT_DIR",
];

/// The target directory this test was built in: `<target>/debug/deps/example_headers-…`.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .expect("target directory")
}

/// The proof: each example, alone in a crate that `cargo new` could have made, with its header as
/// the whole `[dependencies]`, builds. Offline, with this repo's Cargo.lock (so the versions are
/// the ones tested here) and this build's target directory (so only crates whose feature set
/// differs from this repo's are compiled: tokio, rustls, rumqttc and the few between them, about a
/// minute on 2 cores the first time, seconds after that).
#[test]
fn examples_build_from_their_headers_alone() {
    let target = target_dir();
    for (name, source) in examples() {
        let block = header_block(&source).unwrap_or_else(|e| panic!("examples/{name}.rs: {e}"));
        let dir = target.join("example-header-crates").join(&name);
        std::fs::create_dir_all(dir.join("src")).expect("scratch crate directory");
        let manifest = format!(
            "[package]\nname = \"{}-alone\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             # Not part of any workspace above this directory.\n[workspace]\n\n{block}",
            name.replace('_', "-")
        );
        std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
        std::fs::write(dir.join("src/main.rs"), &source).expect("write main.rs");
        std::fs::copy(manifest_dir().join("Cargo.lock"), dir.join("Cargo.lock"))
            .expect("copy Cargo.lock");

        let started = Instant::now();
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--offline", "--quiet"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target);
        // `cargo test` gives this process our package's CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ….
        // Build scripts (ring's) watch some of them, so passing them on would make the shared
        // crates look changed, and the next `cargo build` of this repo would rebuild them.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if SET_BY_CARGO_FOR_TESTS.iter().any(|p| name.starts_with(p)) {
                cargo.env_remove(name.as_ref());
            }
        }
        let output = cargo.output().expect("run cargo");
        eprintln!(
            "examples/{name}.rs built alone from its header in {:.1}s ({})",
            started.elapsed().as_secs_f64(),
            dir.display()
        );
        assert!(
            output.status.success(),
            "examples/{name}.rs does not build from its header alone:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
