//! ACL text as zkCli.sh reads and prints it.
//!
//! Input is `scheme:id:perms[,scheme:id:perms...]` (zkCli's `AclParser`): the id
//! is everything between the first and the last colon, so `digest:user:hash:cdrwa`
//! works and `ip:127.0.0.1:r` works. Output is jute's CSV rendering of the `Id`
//! record followed by the permission letters, which is why zkCli prints the odd
//! two-line `'world,'anyone` / `: cdrwa` form; we keep it so scripts that parse
//! zkCli output keep working.

use zookeeper_client::{Acl, AuthId, Permission};

/// One permission letter and its bit, in the order zkCli prints them (`cdrwa`).
const LETTERS: [(char, Permission); 5] = [
    ('c', Permission::CREATE),
    ('d', Permission::DELETE),
    ('r', Permission::READ),
    ('w', Permission::WRITE),
    ('a', Permission::ADMIN),
];

/// The result of parsing an ACL argument: the entries that parsed, plus the
/// complaints zkCli prints to stderr for the ones that did not (zkCli skips bad
/// entries rather than failing, and so do we).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAcl {
    pub acls: Vec<Acl>,
    pub warnings: Vec<String>,
}

/// Parses `scheme:id:perms[,...]` the way zkCli's `AclParser` does.
pub fn parse_acl(text: &str) -> ParsedAcl {
    let mut acls = Vec::new();
    let mut warnings = Vec::new();
    for entry in text.split(',') {
        let (Some(first), Some(last)) = (entry.find(':'), entry.rfind(':')) else {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        };
        if first == last {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        }
        let scheme = &entry[..first];
        let id = &entry[first + 1..last];
        let (perms, mut unknown) = parse_perms(&entry[last + 1..]);
        warnings.append(&mut unknown);
        acls.push(Acl::new(perms, AuthId::new(scheme, id)));
    }
    ParsedAcl { acls, warnings }
}

/// Converts permission letters (`cdrwa`, any order) to bits. Unknown letters are
/// reported and ignored, as zkCli does.
pub fn parse_perms(text: &str) -> (Permission, Vec<String>) {
    let mut perms = Permission::NONE;
    let mut warnings = Vec::new();
    for c in text.chars() {
        match LETTERS.iter().find(|(letter, _)| *letter == c) {
            Some((_, bit)) => perms = perms | *bit,
            None => warnings.push(format!("Unknown perm type: {c}")),
        }
    }
    (perms, warnings)
}

/// Renders permission bits as letters in zkCli's order (`cdrwa`).
pub fn perms_to_string(perms: Permission) -> String {
    LETTERS
        .iter()
        .filter(|(_, bit)| perms.has(*bit))
        .map(|(letter, _)| *letter)
        .collect()
}

/// Renders one ACL entry exactly as zkCli's `getAcl` does: the `Id` record in
/// jute CSV form (`'scheme,'id`), a newline, then `: perms`.
pub fn format_acl(acl: &Acl) -> String {
    format!(
        "'{},'{}\n: {}",
        csv_escape(acl.scheme()),
        csv_escape(acl.id()),
        perms_to_string(acl.permission())
    )
}

/// jute's `Utils.toCSVString` escaping (without the leading quote), which zkCli
/// applies to ACL ids because it prints them via the record's `toString`.
fn csv_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push_str("%00"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            ',' => out.push_str("%2C"),
            '}' => out.push_str("%7D"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_world_digest_ip_and_auth() {
        let parsed = parse_acl("world:anyone:cdrwa,digest:user:hash/x=:rw,ip:127.0.0.1:r,auth::a");
        assert!(parsed.warnings.is_empty());
        let got: Vec<(String, String, Permission)> = parsed
            .acls
            .iter()
            .map(|a| (a.scheme().to_owned(), a.id().to_owned(), a.permission()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("world".into(), "anyone".into(), Permission::ALL),
                (
                    "digest".into(),
                    "user:hash/x=".into(),
                    Permission::READ | Permission::WRITE
                ),
                ("ip".into(), "127.0.0.1".into(), Permission::READ),
                ("auth".into(), "".into(), Permission::ADMIN),
            ]
        );
    }

    #[test]
    fn bad_entries_are_skipped_with_zkcli_messages() {
        let parsed = parse_acl("world:anyone:rz,bogus,world:anyone");
        assert_eq!(parsed.acls.len(), 1);
        assert_eq!(parsed.acls[0].permission(), Permission::READ);
        assert_eq!(
            parsed.warnings,
            vec![
                "Unknown perm type: z",
                "bogus does not have the form scheme:id:perm",
                "world:anyone does not have the form scheme:id:perm",
            ]
        );
    }

    #[test]
    fn empty_perms_are_allowed() {
        let parsed = parse_acl("world:anyone:");
        assert_eq!(parsed.acls[0].permission(), Permission::NONE);
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn perms_round_trip_in_zkcli_order() {
        assert_eq!(perms_to_string(Permission::ALL), "cdrwa");
        assert_eq!(perms_to_string(parse_perms("awrdc").0), "cdrwa");
        assert_eq!(perms_to_string(parse_perms("ra").0), "ra");
        assert_eq!(perms_to_string(Permission::NONE), "");
    }

    #[test]
    fn formats_like_getacl() {
        let acl = Acl::new(Permission::ALL, AuthId::anyone());
        assert_eq!(format_acl(&acl), "'world,'anyone\n: cdrwa");
        let odd = Acl::new(Permission::READ, AuthId::new("digest", "u%},\n:x"));
        assert_eq!(format_acl(&odd), "'digest,'u%25%7D%2C%0A:x\n: r");
    }
}
