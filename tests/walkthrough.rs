//! The docs cannot drift from the code.
//!
//! `docs/walkthrough.md` quotes code by named regions of the source, marked as in
//! the Rust Book with `// ANCHOR: name` and `// ANCHOR_END: name`. Each quote is
//! announced by a comment line `<!-- excerpt: src/FILE.rs#name -->` followed by a
//! fenced code block. These tests check that every quote is identical to its
//! region (other anchor lines removed, common indentation removed), that every
//! region named exists, that every relative link in the docs and the README
//! points at a file (and heading) that exists, and that every system call the
//! source makes through nix is named in the walkthrough.
//!
//! After changing quoted code, regenerate the quotes with
//! `UPDATE_EXCERPTS=1 cargo test --test walkthrough -- --test-threads=1`, then read the prose around them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const MARK: &str = "<!-- excerpt: ";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The lines between `// ANCHOR: name` and `// ANCHOR_END: name` in `file`, without
/// other anchor lines, dedented; `None` if there is no such region.
fn region(file: &Path, name: &str) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    let start = format!("// ANCHOR: {name}");
    let end = format!("// ANCHOR_END: {name}");
    let mut inside = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t == start {
            inside = true;
        } else if t == end {
            return Some(dedent(&lines));
        } else if inside && !t.starts_with("// ANCHOR") {
            lines.push(line);
        }
    }
    None
}

fn dedent(lines: &[&str]) -> String {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for l in lines {
        out.push_str(l.get(indent..).unwrap_or("").trim_end());
        out.push('\n');
    }
    out
}

/// One quote in a document: where it is, what it names, what it shows.
struct Excerpt {
    /// Byte range of the fenced block's body in the document.
    body: std::ops::Range<usize>,
    file: String,
    name: String,
}

fn excerpts(doc: &str) -> Vec<Excerpt> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = doc[from..].find(MARK) {
        let at = from + at;
        let line_end = doc[at..].find('\n').map(|i| at + i).expect("excerpt line ends");
        let spec = doc[at + MARK.len()..line_end].trim_end_matches("-->").trim();
        let (file, name) =
            spec.split_once('#').unwrap_or_else(|| panic!("excerpt {spec:?} needs FILE#NAME"));
        let fence_start = line_end + 1;
        assert!(
            doc[fence_start..].starts_with("```"),
            "excerpt {spec} must be followed by a code fence"
        );
        let body_start = fence_start + doc[fence_start..].find('\n').expect("fence line") + 1;
        let body_end = body_start + doc[body_start..].find("```").expect("closing fence");
        found.push(Excerpt {
            body: body_start..body_end,
            file: file.to_string(),
            name: name.to_string(),
        });
        from = body_end;
    }
    found
}

fn docs() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    for entry in fs::read_dir(root().join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

/// Every quote matches its region (or, with UPDATE_EXCERPTS=1, is rewritten to).
#[test]
fn every_excerpt_matches_its_source_region() {
    let update = std::env::var_os("UPDATE_EXCERPTS").is_some();
    let mut problems = Vec::new();
    for path in docs() {
        let original = fs::read_to_string(&path).expect("read doc");
        let mut doc = original.clone();
        let list = excerpts(&doc);
        for ex in list.iter().rev() {
            let Some(want) = region(&root().join(&ex.file), &ex.name) else {
                problems.push(format!(
                    "{}: no region '{}' in {}",
                    path.display(),
                    ex.name,
                    ex.file
                ));
                continue;
            };
            if doc[ex.body.clone()] != want {
                if update {
                    doc.replace_range(ex.body.clone(), &want);
                } else {
                    problems.push(format!(
                        "{}: excerpt {}#{} differs from the source",
                        path.display(),
                        ex.file,
                        ex.name
                    ));
                }
            }
        }
        if update && doc != original {
            fs::write(&path, doc).expect("write doc");
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n(run `UPDATE_EXCERPTS=1 cargo test --test walkthrough -- --test-threads=1` and reread the prose)",
        problems.join("\n")
    );
}

/// The walkthrough quotes code at all, and quotes each function the issue names.
#[test]
fn the_walkthrough_quotes_the_reports_functions() {
    let doc = fs::read_to_string(root().join("docs/1-the-loop.md")).expect("chapter 1");
    let named: BTreeSet<String> =
        excerpts(&doc).into_iter().map(|e| format!("{}#{}", e.file, e.name)).collect();
    for want in [
        "src/server.rs#run_server",
        "src/server.rs#accept",
        "src/server.rs#send_all",
        "src/server.rs#recv",
        "src/server.rs#make_conn_msg",
        "src/server.rs#make_join_msg",
        "src/server.rs#make_leave_msg",
        "src/client.rs#connect",
        "src/client.rs#run_client",
        "src/client.rs#recv_msg",
        "src/client.rs#send_msg",
        "src/client.rs#display_you",
        "src/select.rs#build_sets",
        "src/select.rs#call_select",
    ] {
        assert!(named.contains(want), "chapter 1 does not quote {want}");
    }
}

/// In the chapter on system calls, every excerpt reads as the call and its error
/// handling: 15 lines at most.
#[test]
fn every_call_is_shown_in_fifteen_lines_at_most() {
    let doc = fs::read_to_string(root().join("docs/2-every-call.md")).expect("chapter 2");
    for ex in excerpts(&doc) {
        let lines = doc[ex.body.clone()].lines().count();
        assert!(lines <= 15, "{}#{} is {lines} lines long", ex.file, ex.name);
    }
}

/// One row of the table of constants: `| NAME | VALUE | what it bounds | where |`,
/// for every `const` of `src/` outside tests that is a number or a duration.
fn constants_table() -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["src", "src/bin"] {
        for entry in fs::read_dir(root().join(dir)).expect("src") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let text = fs::read_to_string(p).expect("read");
            // The code outside tests, without its comments.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let code: Vec<&str> = code.lines().filter(|l| !l.trim().starts_with("//!")).collect();
            (p.strip_prefix(root()).expect("in root").display().to_string(), code.join("\n"))
        })
        .collect();
    let mut rows = Vec::new();
    for (file, code) in &texts {
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim().trim_start_matches("pub ");
            let Some(rest) = t.strip_prefix("const ") else { continue };
            let Some((name, rest)) = rest.split_once(": ") else { continue };
            let Some((ty, value)) = rest.split_once(" = ") else { continue };
            if ty.contains("str") || ty.starts_with('[') || ty.starts_with('&') {
                continue;
            }
            let value = value.trim_end_matches(';');
            let mut doc = Vec::new();
            for above in lines[..i].iter().rev() {
                match above.trim().strip_prefix("///") {
                    Some(d) => doc.push(d.trim()),
                    None => break,
                }
            }
            doc.reverse();
            let doc = doc.join(" ");
            // Whose it is (`srv.py:`, `Ours:`, `Rule 2:`), then its first clause.
            let (whose, rest) = match doc.split_once(": ") {
                Some((label, rest)) if label.len() < 12 => (format!("{label}: "), rest.to_string()),
                _ => (String::new(), doc.clone()),
            };
            let end = [". ", " (", "; ", ": "].iter().filter_map(|p| rest.find(p)).min();
            let first = format!("{whose}{}", end.map_or(rest.as_str(), |e| &rest[..e]));
            let word = |text: &str| {
                text.match_indices(name).any(|(at, _)| {
                    let after = text[at + name.len()..].chars().next();
                    let before = text[..at].chars().last();
                    let ident =
                        |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    !ident(after) && !ident(before)
                })
            };
            let users: Vec<String> = texts
                .iter()
                .filter(|(f, text)| {
                    let code: Vec<&str> =
                        text.lines().filter(|l| !l.trim().starts_with("//")).collect();
                    f != file && word(&code.join("\n"))
                })
                .map(|(f, _)| format!("`{f}`"))
                .collect();
            let used = match users.is_empty() {
                true => format!("`{file}`"),
                false => format!("`{file}` (and {})", users.join(", ")),
            };
            let first = first.trim_end_matches('.').replace('|', "\\|");
            rows.push(format!("| `{name}` | `{value}` | {first}. | {used} |"));
        }
    }
    format!("| Constant | Value | What it is | Where |\n|---|---|---|---|\n{}\n", rows.join("\n"))
}

/// The walkthrough's table of every constant is the one made from the code (or,
/// with `UPDATE_EXCERPTS=1`, is rewritten to be).
#[test]
fn the_table_of_constants_is_made_from_the_code() {
    let path = root().join("docs/walkthrough.md");
    let doc = fs::read_to_string(&path).expect("walkthrough");
    let (begin, end) = ("<!-- constants: begin -->\n", "<!-- constants: end -->");
    let start = doc.find(begin).expect("the constants block") + begin.len();
    let stop = doc.find(end).expect("the end of the constants block");
    let table = constants_table();
    assert!(table.lines().count() > 30, "{table}");
    if doc[start..stop] != table {
        assert!(
            std::env::var_os("UPDATE_EXCERPTS").is_some(),
            "the table of constants differs from the code; rerun with UPDATE_EXCERPTS=1:\n{table}"
        );
        let mut new = doc.clone();
        new.replace_range(start..stop, &table);
        fs::write(&path, new).expect("write walkthrough");
    }
}

/// GitHub's heading anchor for a Markdown heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn headings(doc: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in doc.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// Every relative link `[text](path)` or `[text](path#heading)` resolves.
#[test]
fn every_relative_link_resolves() {
    let mut problems = Vec::new();
    for path in docs() {
        let doc = fs::read_to_string(&path).expect("read doc");
        let dir = path.parent().expect("dir");
        let mut rest = doc.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            let (file, frag) = target.split_once('#').unwrap_or((target, ""));
            let file_path = if file.is_empty() { path.clone() } else { dir.join(file) };
            if !file_path.exists() {
                problems.push(format!("{}: link to missing {target}", path.display()));
                continue;
            }
            if !frag.is_empty() && file_path.extension().is_some_and(|e| e == "md") {
                let text = fs::read_to_string(&file_path).expect("read target");
                if !headings(&text).contains(frag) {
                    problems.push(format!("{}: no heading #{frag} in {file}", path.display()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every system call the source makes through nix is named (in backticks) in the
/// chapter on system calls.
#[test]
fn every_system_call_in_the_source_is_explained() {
    let doc = fs::read_to_string(root().join("docs/2-every-call.md")).expect("chapter 2");
    let mut calls = BTreeSet::new();
    for entry in fs::read_dir(root().join("src")).expect("src") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("read");
        // `socket::bind(`, `nix::unistd::read(`, `nix::sys::select::select(`...
        for module in [
            "socket::",
            "unistd::",
            "select::",
            "fcntl::",
            "signal::",
            "stat::",
            "poll::",
            "termios::",
        ] {
            let mut rest = text.as_str();
            while let Some(at) = rest.find(module) {
                rest = &rest[at + module.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                if !name.is_empty() && rest[name.len()..].starts_with('(') {
                    calls.insert(name);
                }
            }
        }
        // Calls imported by name.
        for name in [
            "fcntl(",
            "sigaction(",
            "open(",
            "select(",
            "poll(",
            "tcgetattr(",
            "tcsetattr(",
            "fstat(",
        ] {
            if text.contains(name) {
                calls.insert(name.trim_end_matches('(').to_string());
            }
        }
        // nix makes `ioctl` wrappers with a macro.
        if text.contains("ioctl_read_bad!") {
            calls.insert("ioctl".to_string());
        }
    }
    for expected in ["accept4", "shutdown", "tcsetattr", "poll", "dup2_stdout", "kill", "ioctl"] {
        assert!(calls.contains(expected), "the scan missed {expected}: {calls:?}");
    }
    let missing: Vec<_> = calls.iter().filter(|c| !doc.contains(&format!("`{c}`"))).collect();
    assert!(missing.is_empty(), "system calls not explained in the walkthrough: {missing:?}");
}

/// The numbered differences from the report: `## N. Title` in docs/differences.md,
/// the rows `| N | Title |` of the README's table, and the `#` column of
/// docs/robustness.md all use one list, numbered once, from 1, with no gap.
#[test]
fn the_differences_are_numbered_alike_everywhere() {
    let read = |p: &str| fs::read_to_string(root().join(p)).expect(p);
    let walkthrough: Vec<(u32, String)> = read("docs/differences.md")
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|h| h.split_once(". "))
        .filter_map(|(n, title)| Some((n.parse().ok()?, title.to_string())))
        .collect();
    assert!(walkthrough.len() >= 10, "{walkthrough:?}");
    for (k, (n, _)) in walkthrough.iter().enumerate() {
        assert_eq!(*n as usize, k + 1, "walkthrough differences: {walkthrough:?}");
    }
    let readme: Vec<(u32, String)> = read("README.md")
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let n = cells.first()?.strip_prefix("| ")?.parse().ok()?;
            Some((n, cells.get(1)?.to_string()))
        })
        .collect();
    assert_eq!(readme, walkthrough, "README's table and docs/differences.md differ");
    let robustness = read("docs/robustness.md");
    let mut rows = 0;
    for line in robustness.lines() {
        let Some(cell) = line.strip_prefix("| ").and_then(|l| l.split(" |").next()) else {
            continue;
        };
        // Rows of the catalogue only (the rules' table names its rules "1. Speak").
        if !cell.starts_with(|c: char| c.is_ascii_digit()) || cell.contains(". ") {
            continue;
        }
        rows += 1;
        for n in cell.split(", ") {
            let n: usize = n.parse().unwrap_or_else(|_| panic!("robustness.md: {line}"));
            assert!(
                (1..=walkthrough.len()).contains(&n),
                "robustness.md names difference {n}, which does not exist: {line}"
            );
        }
    }
    assert!(rows >= 20, "robustness.md rows not found");
}

/// The six rules of `src/policy.rs` as one table, its values from the constants.
fn rules_table() -> String {
    use select_chat::policy::*;
    let rows = [
        (
            "1. Speak".to_string(),
            format!(
                "the log grows at most {} KiB/s, shared equally by the hosts speaking; a host that paused may say {} s of its share at once",
                ROOM_RATE / 1024,
                BURST_TIME.as_secs()
            ),
            "a host over its share is not read; its bytes wait in the kernel and TCP slows it",
            "no one and no host can fill the log faster than a reader reads; a crowd of hosts shares the rate (up to the known limits)",
            "IRC's fake lag; TCP flow control",
        ),
        (
            "2. Log".into(),
            format!("a member more than {} MiB behind the head", LOG_LIMIT >> 20),
            "cut (abortive close, the report's ` (error) ` leave)",
            "the log's memory is bounded",
            "Redis `repl-backlog-size`; Kafka retention by size",
        ),
        (
            "3. Lag".into(),
            format!("a member owed a line for more than {} s", LAG_LIMIT.as_secs()),
            "cut, the same way",
            "a reader that stopped frees the log and its kernel buffers",
            "Kafka retention by time; Redis's soft limit held for seconds",
        ),
        (
            "4. Hosts".into(),
            format!(
                "at most {PER_HOST} members from one host (an IPv4 address, an IPv6 /64); `srv --per-host N`"
            ),
            "turned away with a line",
            "one host cannot take the room's 1,000 slots",
            "UnrealIRCd `maxperip`, InspIRCd clone limits",
        ),
        (
            "5. Connects".into(),
            format!(
                "a host may connect {PER_HOST} times at once, then once every {} s",
                CONNECT_EVERY.as_secs()
            ),
            "turned away",
            "a connect-and-leave loop cannot flood the room with notices",
            "InspIRCd `connflood`, UnrealIRCd `connect-flood`",
        ),
        (
            "6. Close".into(),
            format!(
                "a polite leaver gets what it is owed within {} s; a cut member, or a leaver out of time, is closed abortively",
                DRAIN_TIME.as_secs()
            ),
            "`close` after `SO_LINGER` 0: the kernel sends RST and frees the socket at once",
            "a plain `close` leaves an unread socket's buffers to the kernel for minutes",
            "Apache `lingering_close`, UNP 7.5",
        ),
    ];
    let mut table =
        String::from("| Rule | Value | What happens | Why | Anchor |\n|---|---|---|---|---|\n");
    for (rule, value, happens, why, anchor) in rows {
        table += &format!("| {rule} | {value} | {happens} | {why} | {anchor} |\n");
    }
    table
}

/// The rules' table in chapter 4 and in docs/robustness.md is the one made from
/// the policy's constants (or, with `UPDATE_EXCERPTS=1`, is rewritten to be).
#[test]
fn the_rules_table_is_made_from_the_policy() {
    let table = rules_table();
    for file in ["docs/4-classmates.md", "docs/robustness.md"] {
        let path = root().join(file);
        let doc = fs::read_to_string(&path).expect(file);
        let (begin, end) = ("<!-- rules: begin -->\n", "<!-- rules: end -->");
        let start = doc.find(begin).expect("the rules block") + begin.len();
        let stop = doc.find(end).expect("the end of the rules block");
        if doc[start..stop] != table {
            assert!(
                std::env::var_os("UPDATE_EXCERPTS").is_some(),
                "{file}: the rules' table differs from src/policy.rs; rerun with UPDATE_EXCERPTS=1:\n{table}"
            );
            let mut new = doc.clone();
            new.replace_range(start..stop, &table);
            fs::write(&path, new).expect("write");
        }
    }
}
