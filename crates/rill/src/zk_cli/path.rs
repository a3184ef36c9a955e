//! Znode path checks with zkCli's exact messages (Java's `PathUtils`).
//!
//! The client library validates paths too, but its messages differ from the
//! ones users know from zkCli (`Path must start with / character`, ...), so we
//! check first and only let valid paths reach the library.

/// Validates `path` like `PathUtils.validatePath(path, sequential)`: a
/// sequential create may end in `/` because the server appends the sequence
/// number.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), String> {
    if sequential {
        return validate(&format!("{path}1"), path);
    }
    validate(path, path)
}

/// `checked` is what is inspected, `shown` what the message quotes (Java shows
/// the path with the extra `1` for sequential paths too; we show what the user
/// typed, which reads better and only differs in that corner).
fn validate(checked: &str, shown: &str) -> Result<(), String> {
    if checked.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !checked.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if checked.len() == 1 {
        return Ok(());
    }
    if checked.ends_with('/') {
        return Err("Path must not end with / character".into());
    }
    let chars: Vec<char> = checked.chars().collect();
    let mut last = '/';
    for i in 1..chars.len() {
        let c = chars[i];
        let next_ends_name = i + 1 == chars.len() || chars[i + 1] == '/';
        let reason = if c == '\0' {
            Some("null character not allowed")
        } else if c == '/' && last == '/' {
            Some("empty node name specified")
        } else if c == '.' && last == '.' {
            (chars[i - 2] == '/' && next_ends_name).then_some("relative paths not allowed")
        } else if c == '.' {
            (chars[i - 1] == '/' && next_ends_name).then_some("relative paths not allowed")
        } else if is_invalid_char(c) {
            Some("invalid character")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(format!(
                "Invalid path string \"{shown}\" caused by {reason} @{i}"
            ));
        }
        last = c;
    }
    Ok(())
}

/// Java rejects control characters, the surrogate and private-use block and the
/// specials block. Characters beyond the BMP are surrogate pairs in Java, so they
/// are rejected as well.
fn is_invalid_char(c: char) -> bool {
    matches!(c as u32, 0x01..=0x1f | 0x7f..=0x9f | 0xd800..=0xf8ff | 0xfff0..)
}

/// Joins a parent path and a child name (`/` + `a` is `/a`, not `//a`).
pub fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        for p in [
            "/",
            "/a",
            "/a/b.c",
            "/a/..b",
            "/a/.b",
            "/zookeeper/config",
            "/é",
        ] {
            assert_eq!(validate_path(p, false), Ok(()), "{p}");
        }
        assert_eq!(validate_path("/a/", true), Ok(()));
    }

    #[test]
    fn rejects_with_zkcli_messages() {
        let cases = [
            ("", "Path length must be > 0"),
            ("x", "Path must start with / character"),
            ("/a/", "Path must not end with / character"),
            (
                "//a",
                "Invalid path string \"//a\" caused by empty node name specified @1",
            ),
            (
                "/a/./b",
                "Invalid path string \"/a/./b\" caused by relative paths not allowed @3",
            ),
            (
                "/a/..",
                "Invalid path string \"/a/..\" caused by relative paths not allowed @4",
            ),
            (
                "/a\u{1}",
                "Invalid path string \"/a\u{1}\" caused by invalid character @2",
            ),
            (
                "/a\0",
                "Invalid path string \"/a\0\" caused by null character not allowed @2",
            ),
            (
                "/\u{1F600}",
                "Invalid path string \"/\u{1F600}\" caused by invalid character @1",
            ),
        ];
        for (path, msg) in cases {
            assert_eq!(validate_path(path, false), Err(msg.to_string()), "{path:?}");
        }
    }

    #[test]
    fn joins_children() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
    }
}
