//! Every submission the log must refuse, one test per attack, each checking the status, the
//! one-line reason, and afterwards that the refused bytes appear nowhere in either log (and
//! that the logs hold exactly the entries that were accepted). The last test runs every attack
//! against one log.

use cairn_tests::fixtures::{
    add_key_event, deprecation_text, genesis, key, release, release_text, release_text_with,
    retire_key_event, revoke_key_event, sign,
};
use cairn_tests::log::Log;
use cairn_tests::{TestLog, assert_refused};
use cairn_verifier::note::{Ed25519Signer, KeyName, Note};

/// A log with three root keys (threshold 2), release key `a` for `example/*` from 0, and one
/// release (`example/app 1.0`), plus the lists of what it accepted and refused.
struct Scenario {
    log: TestLog,
    r1: Ed25519Signer,
    r2: Ed25519Signer,
    r3: Ed25519Signer,
    a: Ed25519Signer,
    accepted: [Vec<Vec<u8>>; 2],
    refused: Vec<Vec<u8>>,
}

fn slot(log: Log) -> usize {
    match log {
        Log::Releases => 0,
        Log::Keys => 1,
    }
}

impl Scenario {
    fn new() -> Scenario {
        let (r1, r2, r3) = (key("root1"), key("root2"), key("root3"));
        let genesis = genesis(&[&r1, &r2, &r3], 2, &[&r1, &r2]);
        let log = TestLog::start(&genesis, &[]);
        let a = key("release-a");
        let mut s = Scenario {
            log,
            r1,
            r2,
            r3,
            a,
            accepted: [Vec::new(), vec![genesis]],
            refused: Vec::new(),
        };
        let add_a = sign(&add_key_event(&s.a, "example/*", 0), &[&s.r1, &s.r2]);
        s.accept(Log::Keys, &add_a);
        let first = release("example/app", "1.0", &s.a);
        s.accept(Log::Releases, &first);
        s
    }

    /// Submits a valid entry; it must get the next index.
    fn accept(&mut self, log: Log, entry: &[u8]) {
        let (index, _) = self.log.publish(log, entry);
        let list = &mut self.accepted[slot(log)];
        assert_eq!(
            index,
            u64::try_from(list.len()).expect("small"),
            "next index"
        );
        list.push(entry.to_vec());
    }

    /// Submits `entry`, which must be refused with `status`.
    fn refuse(&mut self, log: Log, entry: &[u8], status: u16, what: &str) {
        let reply = self.log.submit(log, entry);
        assert_refused(&reply, status, what);
        self.refused.push(entry.to_vec());
    }

    /// Submits `entry`, which must be refused with some 4xx other than 429 (the specification
    /// does not fix which one for key-log rule violations).
    fn refuse_4xx(&mut self, log: Log, entry: &[u8], what: &str) {
        let reply = self.log.submit(log, entry);
        assert!(
            (400..500).contains(&reply.status) && reply.status != 429,
            "{what}: expected a 4xx refusal, got {} {:?}",
            reply.status,
            reply.text()
        );
        assert_refused(&reply, reply.status, what);
        self.refused.push(entry.to_vec());
    }

    fn release_size(&self) -> u64 {
        u64::try_from(self.accepted[0].len()).expect("small")
    }

    /// Both logs hold exactly the accepted entries; no refused entry, nor any note with the text
    /// of a refused note, is in either.
    fn check_logs(&self) {
        for log in [Log::Releases, Log::Keys] {
            let view = self.log.view(log);
            let entries = view.entries(&view.checkpoint());
            assert_eq!(
                entries,
                self.accepted[slot(log)],
                "the {} log holds exactly the accepted entries",
                log.name()
            );
            let texts: Vec<String> = entries
                .iter()
                .map(|e| {
                    Note::parse(e)
                        .expect("logged entries are notes")
                        .text()
                        .to_owned()
                })
                .collect();
            for refused in &self.refused {
                assert!(
                    !entries.contains(refused),
                    "a refused entry is in the {} log:\n{}",
                    log.name(),
                    String::from_utf8_lossy(refused)
                );
                if let Ok(note) = Note::parse(refused) {
                    let accepted_elsewhere = self
                        .accepted
                        .iter()
                        .flatten()
                        .any(|e| Note::parse(e).is_ok_and(|n| n.text() == note.text()));
                    assert!(
                        accepted_elsewhere || !texts.iter().any(|t| t == note.text()),
                        "the text of a refused note is in the {} log:\n{}",
                        log.name(),
                        note.text()
                    );
                }
            }
        }
    }
}

fn malformed_notes(s: &mut Scenario) {
    let release_of = |text: &str, s: &Scenario| sign(text, &[&s.a]);
    let good_text = release_text("example/app", "5.0", &["app.img"]);
    let mut bodies: Vec<(&str, Log, Vec<u8>)> = vec![
        ("empty body", Log::Releases, Vec::new()),
        ("not a note", Log::Releases, b"hello\n".to_vec()),
        (
            "no signature block",
            Log::Releases,
            good_text.clone().into_bytes(),
        ),
        ("invalid UTF-8", Log::Releases, {
            let mut b = release_of(&good_text, s);
            b[20] = 0xff;
            b
        }),
        (
            "unknown field",
            Log::Releases,
            release_of(&format!("{good_text}color blue\n"), s),
        ),
        (
            "fields out of order",
            Log::Releases,
            release_of(
                "cairn/release/v1\nversion 5.0\nname example/app\nartifact \
                 sha256:0000000000000000000000000000000000000000000000000000000000000000 1 a.img\n",
                s,
            ),
        ),
        ("duplicated signature line", Log::Releases, {
            let mut b = release_of(&good_text, s);
            let note = Note::parse(&b).expect("note");
            b.extend_from_slice(note.signatures()[0].to_line().as_bytes());
            b
        }),
        (
            "a key event sent to the release log",
            Log::Releases,
            sign(
                &add_key_event(&key("release-x"), "example/*", 0),
                &[&s.r1, &s.r2],
            ),
        ),
        (
            "a release sent to the key log",
            Log::Keys,
            release_of(&release_text("example/app", "5.1", &["app.img"]), s),
        ),
    ];
    // Only the digest's case differs from a valid entry.
    let digest_at = good_text.find("sha256:").expect("digest") + "sha256:".len();
    let mut upper = good_text.clone();
    upper.replace_range(
        digest_at..digest_at + 64,
        &good_text[digest_at..digest_at + 64].to_ascii_uppercase(),
    );
    bodies.push((
        "digest in uppercase hex",
        Log::Releases,
        release_of(&upper, s),
    ));
    // More artifact lines than the grammar allows (64), sorted and otherwise valid.
    let mut many = String::from("cairn/release/v1\nname example/app\nversion 5.2\n");
    for n in 0..65 {
        many.push_str(&format!(
            "artifact sha256:{} 1 f{n:03}.img\n",
            "ab".repeat(32)
        ));
    }
    bodies.push(("65 artifact lines", Log::Releases, release_of(&many, s)));
    // One signature line more than a note may carry (MAX_NOTE_SIGNATURES, room for the 16
    // signed-note asks verifiers to accept, plus unknown lines other implementations add).
    let max = cairn_verifier::note::MAX_NOTE_SIGNATURES;
    let text = release_text("example/app", "5.3", &["app.img"]);
    let signers: Vec<Ed25519Signer> = (0..max).map(|n| key(&format!("extra-{n}"))).collect();
    let mut refs: Vec<&Ed25519Signer> = vec![&s.a];
    refs.extend(signers.iter().take(max - 1));
    let mut crowded = sign(&text, &refs);
    let extra = Note::parse(&sign(&text, &[&signers[max - 1]])).expect("note");
    crowded.extend_from_slice(extra.signatures()[0].to_line().as_bytes());
    bodies.push(("too many signature lines", Log::Releases, crowded));
    for (what, log, body) in bodies {
        s.refuse(log, &body, 400, &format!("malformed note: {what}"));
    }
}

/// Sends `body` with chunked transfer encoding over a raw connection (so no Content-Length
/// announces its size) and returns the status code of the reply.
fn post_chunked(s: &Scenario, path: &str, body: &[u8]) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(s.log.server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.log.server.addr()
    );
    // The server may answer and close before reading everything: ignore write errors and read
    // whatever reply it sent.
    let _ = stream.write_all(head.as_bytes());
    for chunk in body.chunks(8192) {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        if stream.write_all(&framed).is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    let status = reply
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    status.unwrap_or_else(|| panic!("no HTTP reply to a chunked POST: {reply:?}"))
}

fn oversized_bodies(s: &mut Scenario) {
    for size in [65_536, 70_000] {
        let body = vec![b'a'; size];
        let reply = s.log.submit(Log::Releases, &body);
        assert_refused(&reply, 413, &format!("a {size}-byte body"));
        s.refused.push(body);
    }
    // The limit itself is allowed through to the parser, which refuses this as malformed.
    let body = vec![b'a'; 65_535];
    s.refuse(
        Log::Releases,
        &body,
        400,
        "a 65,535-byte body is within the limit",
    );
    let body = vec![b'a'; 65_536];
    let reply = s.log.submit(Log::Keys, &body);
    assert_refused(&reply, 413, "the key log has the same limit");
    // Without a Content-Length the limit still holds.
    let body = vec![b'a'; 100_000];
    assert_eq!(
        post_chunked(s, "/releases/add", &body),
        413,
        "a chunked body over the limit"
    );
    s.refused.push(body);
}

fn bad_signature_by_the_known_release_key(s: &mut Scenario) {
    // The text was changed after signing.
    let signed = sign(&release_text("example/app", "6.0", &["app.img"]), &[&s.a]);
    let note = Note::parse(&signed).expect("note");
    let tampered_text = release_text("example/app", "6.0", &["evil.img"]);
    let mut tampered = tampered_text.clone().into_bytes();
    tampered.push(b'\n');
    tampered.extend_from_slice(note.signatures()[0].to_line().as_bytes());
    s.refuse(
        Log::Releases,
        &tampered,
        403,
        "text changed after signing by the release key",
    );
    // The signature bytes were corrupted.
    let text = release_text("example/app", "6.1", &["app.img"]);
    let mut sig = Note::parse(&sign(&text, &[&s.a]))
        .expect("note")
        .signatures()[0]
        .clone();
    sig.signature[10] ^= 0x40;
    let mut corrupted = Note::sign(&text, &[]).expect("unsigned note");
    corrupted.push_signature(sig).expect("push signature");
    s.refuse(
        Log::Releases,
        &corrupted.to_bytes(),
        403,
        "corrupted signature by the release key",
    );
    // A bad signature by the release key next to a good one by another valid key.
    let b = key("release-b-bad-sig");
    let add_b = sign(&add_key_event(&b, "example/*", 0), &[&s.r2, &s.r3]);
    s.accept(Log::Keys, &add_b);
    let text = release_text("example/app", "6.2", &["app.img"]);
    let good_by_b = Note::parse(&sign(&text, &[&b])).expect("note");
    let mut bad_by_a = Note::parse(&sign(&text, &[&s.a]))
        .expect("note")
        .signatures()[0]
        .clone();
    bad_by_a.signature[0] ^= 1;
    let mut both = good_by_b.clone();
    both.push_signature(bad_by_a).expect("push");
    s.refuse(
        Log::Releases,
        &both.to_bytes(),
        403,
        "one good and one bad release-key signature",
    );
}

fn unknown_key(s: &mut Scenario) {
    let stranger = key("never-added");
    let entry = release("example/app", "7.0", &stranger);
    s.refuse(
        Log::Releases,
        &entry,
        403,
        "release signed by an unknown key",
    );
    let entry = release("example/app", "7.1", &s.r1);
    s.refuse(
        Log::Releases,
        &entry,
        403,
        "release signed by a root key (not a release key)",
    );
    // The right key name and key ID, another key's signature.
    let impostor = Ed25519Signer::from_seed(
        KeyName::new("example.org/release-a").expect("name"),
        [7; 32],
    );
    let text = release_text("example/app", "7.2", &["app.img"]);
    let mut note = Note::sign(&text, &[]).expect("note");
    let mut sig = Note::parse(&sign(&text, &[&impostor]))
        .expect("note")
        .signatures()[0]
        .clone();
    sig.key_id = Note::parse(&sign(&text, &[&s.a]))
        .expect("note")
        .signatures()[0]
        .key_id;
    note.push_signature(sig).expect("push");
    s.refuse(
        Log::Releases,
        &note.to_bytes(),
        403,
        "release signed by an impostor under the release key's name and ID",
    );
}

fn key_out_of_scope(s: &mut Scenario) {
    for (name, what) in [
        ("other/app", "a name outside example/*"),
        ("example/app/sub", "'*' does not cross '/'"),
        ("example", "the scope's parent"),
    ] {
        let entry = release(name, "1.0", &s.a);
        s.refuse(
            Log::Releases,
            &entry,
            403,
            &format!("key out of scope: {what}"),
        );
    }
    // A release that exists, by the key whose scope covers it, deprecated by a key whose scope
    // does not.
    let o = key("release-other-o");
    let add_o = sign(&add_key_event(&o, "other/*", 0), &[&s.r1, &s.r3]);
    s.accept(Log::Keys, &add_o);
    s.accept(Log::Releases, &release("other/app", "1.0", &o));
    let deprecation = sign(&deprecation_text("other/app", "1.0", None), &[&s.a]);
    s.refuse(
        Log::Releases,
        &deprecation,
        403,
        "deprecation by a key out of scope",
    );
}

fn key_not_yet_valid(s: &mut Scenario) {
    let d = key("release-later-d");
    let from = s.release_size() + 10;
    let add = sign(&add_key_event(&d, "example/*", from), &[&s.r1, &s.r3]);
    s.accept(Log::Keys, &add);
    let entry = release("example/later", "1.0", &d);
    s.refuse(
        Log::Releases,
        &entry,
        403,
        "release by a key before its `from` index",
    );
}

fn key_retired_at_that_index(s: &mut Scenario) {
    let b = key("release-retire-b");
    let add = sign(&add_key_event(&b, "example/*", 0), &[&s.r1, &s.r2]);
    s.accept(Log::Keys, &add);
    let n = s.release_size();
    s.accept(Log::Releases, &release("example/retire", "1.0", &b));
    // Valid for index n + 1, not from n + 2 on.
    let retire = sign(&retire_key_event(&b, n + 2), &[&s.r2, &s.r3]);
    s.accept(Log::Keys, &retire);
    s.accept(Log::Releases, &release("example/retire", "1.1", &b));
    let entry = release("example/retire", "1.2", &b);
    s.refuse(
        Log::Releases,
        &entry,
        403,
        "release by a retired key at its `until` index",
    );
    // A deprecation by the retired key is refused by the same rule.
    let deprecation = sign(&deprecation_text("example/retire", "1.0", None), &[&b]);
    s.refuse(
        Log::Releases,
        &deprecation,
        403,
        "deprecation by a retired key",
    );
}

fn key_revoked_at_that_index(s: &mut Scenario) {
    let c = key("release-revoke-c");
    let add = sign(&add_key_event(&c, "example/*", 0), &[&s.r1, &s.r2]);
    s.accept(Log::Keys, &add);
    s.accept(Log::Releases, &release("example/revoke", "1.0", &c));
    let n = s.release_size();
    let revoke = sign(&revoke_key_event(&c, n), &[&s.r1, &s.r3]);
    s.accept(Log::Keys, &revoke);
    let entry = release("example/revoke", "1.1", &c);
    s.refuse(
        Log::Releases,
        &entry,
        403,
        "release by a key revoked at that index",
    );
    // Signed by the revoked key and by a valid one: the revoked signature alone refuses it.
    let text = release_text("example/revoke", "1.2", &["app.img"]);
    let both = sign(&text, &[&s.a, &c]);
    s.refuse(
        Log::Releases,
        &both,
        403,
        "release co-signed by a revoked key",
    );
}

fn below_threshold_key_event(s: &mut Scenario) {
    let e = key("release-e");
    let text = add_key_event(&e, "example/*", 0);
    s.refuse(
        Log::Keys,
        &sign(&text, &[&s.r1]),
        403,
        "key event signed by one root key of 2-of-3",
    );
    let alias =
        s.r1.with_name(KeyName::new("example.org/alias").expect("name"));
    s.refuse(
        Log::Keys,
        &sign(&text, &[&s.r1, &alias]),
        403,
        "one root key signing twice under two names counts once",
    );
    s.refuse(
        Log::Keys,
        &sign(&text, &[&s.r2, &key("outsider")]),
        403,
        "a non-root signature does not count",
    );
    s.refuse(
        Log::Keys,
        &sign(&text, &[&s.a]),
        403,
        "a release key cannot sign key events",
    );
    let root_change = sign(
        &cairn_tests::fixtures::root_event(&[&s.r1, &key("root9")], 1),
        &[&s.r1],
    );
    s.refuse(
        Log::Keys,
        &root_change,
        403,
        "root change below the current threshold",
    );
    // The key that was never added cannot sign releases.
    s.refuse(
        Log::Releases,
        &release("example/app", "8.0", &e),
        403,
        "release by a key whose addition was refused",
    );
}

fn key_log_rule_violations(s: &mut Scenario) {
    let root_as_release = sign(&add_key_event(&s.r3, "example/*", 0), &[&s.r1, &s.r2]);
    s.refuse_4xx(
        Log::Keys,
        &root_as_release,
        "a root key added as a release key",
    );
    let again = sign(&add_key_event(&s.a, "other/*", 0), &[&s.r1, &s.r2]);
    s.refuse_4xx(Log::Keys, &again, "a release key added twice");
    let unknown = sign(&retire_key_event(&key("ghost"), 0), &[&s.r1, &s.r2]);
    s.refuse_4xx(Log::Keys, &unknown, "retiring a key that was never added");
}

fn conflicting_release(s: &mut Scenario) {
    let other = sign(
        &release_text("example/app", "1.0", &["different.img"]),
        &[&s.a],
    );
    s.refuse(
        Log::Releases,
        &other,
        409,
        "a different release for an existing name and version",
    );
    let other = sign(
        &release_text_with(
            "example/app",
            "1.0",
            &[("image.img", b"swapped contents\n")],
            &[],
        ),
        &[&s.a],
    );
    s.refuse(
        Log::Releases,
        &other,
        409,
        "same file name, different digest",
    );
}

type Attack = fn(&mut Scenario);

fn run(attacks: &[Attack]) {
    let mut s = Scenario::new();
    for attack in attacks {
        attack(&mut s);
    }
    s.check_logs();
    // The server still accepts valid entries afterwards.
    let entry = release("example/app", "99.0", &s.a);
    s.accept(Log::Releases, &entry);
    s.check_logs();
}

#[test]
fn malformed_note_is_refused_with_400() {
    run(&[malformed_notes]);
}

#[test]
fn oversized_body_is_refused_with_413() {
    run(&[oversized_bodies]);
}

#[test]
fn bad_signature_by_the_known_release_key_is_refused_with_403() {
    run(&[bad_signature_by_the_known_release_key]);
}

#[test]
fn release_signed_by_an_unknown_key_is_refused_with_403() {
    run(&[unknown_key]);
}

#[test]
fn release_by_a_key_out_of_scope_is_refused_with_403() {
    run(&[key_out_of_scope]);
}

#[test]
fn release_by_a_key_before_its_from_index_is_refused_with_403() {
    run(&[key_not_yet_valid]);
}

#[test]
fn release_by_a_key_retired_at_that_index_is_refused_with_403() {
    run(&[key_retired_at_that_index]);
}

#[test]
fn release_by_a_key_revoked_at_that_index_is_refused_with_403() {
    run(&[key_revoked_at_that_index]);
}

#[test]
fn key_event_below_the_root_threshold_is_refused_with_403() {
    run(&[below_threshold_key_event]);
}

#[test]
fn key_event_breaking_a_key_log_rule_is_refused() {
    run(&[key_log_rule_violations]);
}

#[test]
fn conflicting_release_for_an_existing_name_and_version_is_refused_with_409() {
    run(&[conflicting_release]);
}

#[test]
fn every_refusal_in_one_log_leaves_no_trace() {
    run(&[
        malformed_notes,
        bad_signature_by_the_known_release_key,
        unknown_key,
        key_out_of_scope,
        key_not_yet_valid,
        key_retired_at_that_index,
        key_revoked_at_that_index,
        below_threshold_key_event,
        key_log_rule_violations,
        conflicting_release,
        oversized_bodies,
    ]);
}
