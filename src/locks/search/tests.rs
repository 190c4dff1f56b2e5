use super::*;

fn eq(v: &str) -> TextMatch {
    TextMatch::Equals(v.into())
}

#[test]
fn supported_conditions() {
    assert_eq!(
        parse_search("name = db", 20, 1000),
        Ok(vec![LockFilter::Name(eq("db"))])
    );
    assert_eq!(
        parse_search(
            r#"name ~ "web cluster" AND host = web1.example.com and enabled = false"#,
            20,
            1000
        ),
        Ok(vec![
            LockFilter::Name(TextMatch::Contains("web cluster".into())),
            LockFilter::Host(eq("web1.example.com")),
            LockFilter::Enabled(false),
        ])
    );
    assert_eq!(
        parse_search("locked=true", 20, 1000),
        Ok(vec![LockFilter::Locked(true)])
    );
    assert_eq!(
        parse_search("stale = true", 20, 1000),
        Ok(vec![LockFilter::Stale(true)])
    );
    assert_eq!(
        parse_search("holders > 2 and full = true", 20, 1000),
        Ok(vec![
            LockFilter::Holders(Comparison::Greater, 2),
            LockFilter::Full(true)
        ])
    );
    assert_eq!(
        parse_search("holders<=1", 20, 1000),
        Ok(vec![LockFilter::Holders(Comparison::LessOrEqual, 1)])
    );
    assert_eq!(
        parse_search("locked != true", 20, 1000),
        Ok(vec![LockFilter::Locked(false)])
    );
    assert_eq!(
        parse_search("type = ForemanDlm::Dlmlock::Update", 20, 1000),
        Ok(vec![LockFilter::Type(eq("ForemanDlm::Dlmlock::Update"))])
    );
    assert_eq!(
        parse_search("host !~ 'db'", 20, 1000),
        Ok(vec![LockFilter::Host(TextMatch::NotContains("db".into()))])
    );
    assert_eq!(
        parse_search("cluster", 20, 1000),
        Ok(vec![LockFilter::Name(TextMatch::Contains(
            "cluster".into()
        ))])
    );
}

#[test]
fn unsupported_searches_are_errors() {
    for bad in [
        "owner = x",
        "name = a or name = b",
        "name =",
        "enabled ~ true",
        "enabled = maybe",
        "name = 'open",
        "= x",
        "name = a and",
        "name = a name = b",
        "   ",
        "host ^ x",
        "holders > many",
        "holders ~ 2",
        "holders > -1",
        "name > a",
        "name = a\0b",
        "\0",
    ] {
        assert!(parse_search(bad, 20, 1000).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn orders() {
    assert_eq!(parse_order(""), Ok((SortField::Name, false)));
    assert_eq!(parse_order("name DESC"), Ok((SortField::Name, true)));
    assert_eq!(
        parse_order("updated_at asc"),
        Ok((SortField::UpdatedAt, false))
    );
    assert!(parse_order("password").is_err());
    assert!(parse_order("name sideways").is_err());
    assert!(parse_order("name desc extra").is_err());
}

#[test]
fn searches_are_bounded_in_conditions_and_length() {
    let three = "name ~ a and name ~ b and name ~ c";
    assert_eq!(parse_search(three, 3, 1000).map(|f| f.len()), Ok(3));
    let too_many = parse_search(three, 2, 1000).expect_err("three of two");
    assert!(
        too_many.0.contains("more than 2 conditions"),
        "{too_many:?}"
    );
    let too_long = parse_search(three, 3, 20).expect_err("too long");
    assert!(too_long.0.contains("at most 20"), "{too_long:?}");
}
