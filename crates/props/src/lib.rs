//! Java-properties config files as operators write them (zoo.cfg,
//! server.properties): `key=value` lines, `#`/`!` comments, and, as the seeds
//! do, a `# comment` after a value on the same line (stripped with a warning;
//! Java would keep it in the value).

/// One `key=value` line with its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parses properties text; returns the entries and warnings (trailing comments,
/// lines without `=`). Later duplicates override earlier ones, as in Java.
pub fn parse_properties(text: &str) -> (Vec<Property>, Vec<String>) {
    let mut props = Vec::new();
    let mut warnings = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            warnings.push(format!(
                "line {line_no}: ignoring '{line}': expected key=value"
            ));
            continue;
        };
        let key = key.trim().to_owned();
        let mut value = value.trim().to_owned();
        if let Some(pos) = value.find(" #").or_else(|| value.find("\t#")) {
            warnings.push(format!(
                "line {line_no}: ignoring trailing comment after the value of '{key}': '{}'",
                value[pos..].trim()
            ));
            value = value[..pos].trim_end().to_owned();
        }
        props.push(Property {
            key,
            value,
            line: line_no,
        });
    }
    (props, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_trailing_comments_and_reports_them() {
        let (props, warnings) = parse_properties("a=1\n# c\nb = two   #note\n!x\nbad line\nc:3\n");
        let kv: Vec<(&str, &str)> = props
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(kv, vec![("a", "1"), ("b", "two"), ("c", "3")]);
        assert_eq!(props[1].line, 3);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("'b'"));
    }
}
