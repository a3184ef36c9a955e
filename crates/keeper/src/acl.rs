//! ACL schemes (world, auth, digest, ip, super) and permission checks.
//! Pure: a session's identities are passed in as a slice of [`Id`]s.

use base64::Engine;

use crate::proto::codes::perms;
use crate::proto::{Acl, ErrorCode, Id};

/// `base64(sha1("user:password"))`, the digest scheme's stored form.
pub fn digest(user_password: &str) -> String {
    let hash = sha1_smol::Sha1::from(user_password.as_bytes())
        .digest()
        .bytes();
    let user = user_password.split(':').next().unwrap_or("");
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The identities a session gains from `addauth scheme auth`, or `AuthFailed`.
/// `super_digest` is the configured `user:hash` whose holder bypasses all ACLs.
pub fn authenticate(
    scheme: &str,
    auth: &[u8],
    super_digest: Option<&str>,
) -> Result<Vec<Id>, ErrorCode> {
    match scheme {
        "digest" => {
            // ZooKeeper accepts any digest credential; one without ':' just
            // matches no ACL.
            let text = std::str::from_utf8(auth).map_err(|_| ErrorCode::AuthFailed)?;
            let id = digest(text);
            let mut ids = Vec::with_capacity(2);
            if super_digest == Some(id.as_str()) {
                ids.push(Id::new("super", ""));
            }
            ids.push(Id::new("digest", &id));
            Ok(ids)
        }
        _ => Err(ErrorCode::AuthFailed),
    }
}

/// Validates an ACL from a create/setACL and expands the `auth` scheme into the
/// session's authenticated identities, as ZooKeeper's `fixupACL` does.
pub fn fixup(acl: &[Acl], session_ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    if acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    let mut push = |a: Acl| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    for a in acl {
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => push(a.clone()),
            "auth" => {
                let mut any = false;
                for id in session_ids
                    .iter()
                    .filter(|id| is_authenticated_scheme(&id.scheme))
                {
                    any = true;
                    push(Acl {
                        perms: a.perms,
                        id: id.clone(),
                    });
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if valid_digest_id(&a.id.id) => push(a.clone()),
            "ip" if parse_ip_pattern(&a.id.id).is_some() => push(a.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

fn is_authenticated_scheme(scheme: &str) -> bool {
    scheme == "digest"
}

fn valid_digest_id(id: &str) -> bool {
    id.split(':').count() == 2
}

/// True when a session holding `ids` has `perm` on a node with `acl`.
pub fn allows(acl: &[Acl], perm: i32, ids: &[Id]) -> bool {
    if ids.iter().any(|id| id.scheme == "super") || acl.is_empty() {
        return true;
    }
    acl.iter()
        .filter(|a| a.perms & perm != 0)
        .any(|a| match a.id.scheme.as_str() {
            "world" => a.id.id == "anyone",
            "ip" => ids
                .iter()
                .filter(|id| id.scheme == "ip")
                .any(|id| ip_matches(&a.id.id, &id.id)),
            scheme => ids.iter().any(|id| id.scheme == scheme && id.id == a.id.id),
        })
}

/// `Ok` when allowed, else `NoAuth`.
pub fn check(acl: &[Acl], perm: i32, ids: &[Id]) -> Result<(), ErrorCode> {
    if allows(acl, perm, ids) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// What getACL shows a reader without ADMIN: digest hashes masked as `user:x`.
pub fn masked_for_reader(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl {
                    perms: a.perms,
                    id: Id::new("digest", &format!("{user}:x")),
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

/// The user name whoAmI reports for an identity (digest shows the user only).
pub fn user_name(id: &Id) -> &str {
    if id.scheme == "digest" {
        id.id.split(':').next().unwrap_or("")
    } else {
        &id.id
    }
}

/// Parses `a.b.c.d` or `a.b.c.d/bits` (IPv4) into (address, prefix bits).
fn parse_ip_pattern(s: &str) -> Option<(std::net::IpAddr, u32)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (s, None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

fn ip_matches(pattern: &str, client: &str) -> bool {
    let (Some((net, bits)), Ok(client)) = (
        parse_ip_pattern(pattern),
        client.parse::<std::net::IpAddr>(),
    ) else {
        return false;
    };
    match (net, client) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(c)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(c) & mask
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(c)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(c) & mask
        }
        _ => false,
    }
}

/// All permission bits, for readability at call sites.
pub const ALL: i32 = perms::ALL;

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }

    #[test]
    fn digest_matches_zookeeper() {
        // Known value from ZooKeeper's docs: super:admin.
        assert_eq!(digest("super:admin"), "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=");
    }

    #[test]
    fn auth_scheme_expands_to_session_digests() {
        let ids = vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "u:h")];
        let fixed = fixup(&[acl(31, "auth", "")], &ids).unwrap();
        assert_eq!(fixed, vec![acl(31, "digest", "u:h")]);
        assert_eq!(
            fixup(&[acl(31, "auth", "")], &ids[..1]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(fixup(&[], &ids), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup(&[acl(31, "bogus", "x")], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(&[acl(31, "ip", "1.2.3.4/99")], &ids),
            Err(ErrorCode::InvalidAcl)
        );
    }

    #[test]
    fn permission_checks_per_scheme() {
        let local = vec![Id::new("ip", "127.0.0.1")];
        assert!(allows(&[acl(1, "world", "anyone")], 1, &local));
        assert!(!allows(&[acl(1, "world", "anyone")], 2, &local));
        assert!(allows(&[acl(31, "ip", "127.0.0.0/8")], 2, &local));
        assert!(!allows(&[acl(31, "ip", "10.0.0.1")], 2, &local));
        let digest_acl = [acl(31, "digest", &digest("u:p"))];
        assert!(!allows(&digest_acl, 1, &local));
        let authed = authenticate("digest", b"u:p", None).unwrap();
        assert!(allows(&digest_acl, 1, &authed));
        let sup = authenticate("digest", b"super:admin", Some(&digest("super:admin"))).unwrap();
        assert!(allows(&digest_acl, 1, &sup));
    }

    #[test]
    fn readers_see_masked_digests() {
        let masked = masked_for_reader(&[acl(1, "digest", "u:secret")]);
        assert_eq!(masked[0].id.id, "u:x");
    }
}
