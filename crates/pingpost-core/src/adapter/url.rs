//! A call's URL: the scheme, host and port come from configuration only; the path and the
//! query may be templates, each value they render percent-encoded (so a value cannot add a
//! path segment, a parameter or a fragment, let alone change the host).

/// A URL split into its literal origin (`https://host:port`) and the rest (path and query),
/// which may hold templates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SplitUrl<'a> {
    pub origin: &'a str,
    pub rest: &'a str,
}

/// Splits and checks a configured URL.
pub(super) fn split(url: &str) -> Result<SplitUrl<'_>, String> {
    let scheme_end = url.find("://").ok_or("must be an absolute http:// or https:// URL")?;
    let scheme = &url[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("must be an absolute http:// or https:// URL".into());
    }
    let after = scheme_end + 3;
    let authority_end = url[after..].find(['/', '?', '#']).map_or(url.len(), |i| after + i);
    let authority = &url[after..authority_end];
    if super::template::has_syntax(authority) || authority.contains(['{', '}']) {
        return Err("the scheme, host and port cannot be templated: only the path and the query may be".into());
    }
    check_authority(authority)?;
    let rest = &url[authority_end..];
    let literal = outside_tags(rest);
    if literal.contains('#') {
        return Err("a URL sent to a buyer has no fragment ('#')".into());
    }
    if literal.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    Ok(SplitUrl { origin: &url[..authority_end], rest })
}

fn check_authority(authority: &str) -> Result<(), String> {
    if authority.contains('@') {
        return Err("credentials go in `auth` (or a header), not in the URL".into());
    }
    let (host, port) = match authority.strip_prefix('[').and_then(|r| r.find(']')) {
        // An IPv6 literal: `[::1]` or `[::1]:8080`.
        Some(end) => match &authority[end + 2..] {
            "" => (&authority[..end + 2], None),
            tail => (&authority[..end + 2], Some(tail.strip_prefix(':').ok_or("has no valid host")?)),
        },
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let ipv6 = host.starts_with('[');
    let hostname = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !ipv6 && !hostname {
        return Err("has no valid host".into());
    }
    if let Some(p) = port {
        if !p.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err("has an invalid port".into());
        }
    }
    Ok(())
}

/// The text of `source` outside its template tags (`{{ … }}`, `{% … %}`, `{# … #}`).
fn outside_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(open) = ["{{", "{%", "{#"].iter().filter_map(|o| rest.find(o)).min() {
        out.push_str(&rest[..open]);
        let close = match &rest[open..open + 2] {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        match rest[open + 2..].find(close) {
            Some(end) => rest = &rest[open + 2 + end + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// `url` with `query` added to its query string.
pub(super) fn with_query(url: &str, query: &str) -> String {
    if query.is_empty() {
        return url.to_string();
    }
    let joint = if !url.contains('?') {
        "?"
    } else if url.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    };
    format!("{url}{joint}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Result<&str, String> {
        split(url).map(|s| s.origin)
    }

    #[test]
    fn only_the_path_and_query_may_be_templated() {
        assert_eq!(
            origin("https://api.example.com/v2/{{ ping.id }}?k={{ secret('k') }}"),
            Ok("https://api.example.com")
        );
        assert_eq!(origin("http://127.0.0.1:9001"), Ok("http://127.0.0.1:9001"));
        assert_eq!(origin("http://[::1]:8080/x"), Ok("http://[::1]:8080"));
        for bad in [
            "https://{{ lead.host }}/x",
            "https://api.example.com:{{ p }}/x",
            "https://{% if x %}a{% endif %}.example.com/",
            "ftp://example.com/",
            "example.com/path",
            "https://user:pw@example.com/",
            "https://example.com:99999/",
            "https:///path",
            "https://example.com/a b",
            "https://example.com/#frag",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
        assert!(split("https://example.com/{{ '#' }}").is_ok(), "a # rendered by a template is percent-encoded");
    }

    #[test]
    fn queries_join_what_is_there() {
        assert_eq!(with_query("http://h/p", "a=1"), "http://h/p?a=1");
        assert_eq!(with_query("http://h/p?k=v", "a=1"), "http://h/p?k=v&a=1");
        assert_eq!(with_query("http://h/p?", "a=1"), "http://h/p?a=1");
        assert_eq!(with_query("http://h/p", ""), "http://h/p");
    }
}
