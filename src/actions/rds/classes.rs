//! The DB instance classes `rds.compare` knows: vCPUs and memory, from AWS's
//! published table (a class unknown here is reported, never guessed).

/// vCPUs and GiB of memory of a class such as `db.r6g.xlarge`.
pub fn size(class: &str) -> Option<(u32, f64)> {
    let rest = class.strip_prefix("db.")?;
    let (family, size) = rest.split_once('.')?;
    if let Some(row) = BURSTABLE
        .iter()
        .find(|(f, s, _, _)| *f == family && *s == size)
    {
        return Some((row.2, row.3));
    }
    // Fixed-performance families: vCPUs by size, memory as GiB per vCPU.
    let per_vcpu = FAMILIES
        .iter()
        .find(|(prefixes, _)| prefixes.contains(&family))?
        .1;
    let vcpus = SIZES.iter().find(|(s, _)| *s == size)?.1;
    Some((vcpus, vcpus as f64 * per_vcpu))
}

/// `db.t2`, `db.t3`, `db.t4g`: CPU credits that a backlog can use up, after
/// which the instance runs at its baseline (10–40 % of a vCPU).
pub fn burstable(class: &str) -> bool {
    ["db.t2.", "db.t3.", "db.t4g."]
        .iter()
        .any(|p| class.starts_with(p))
}

const BURSTABLE: &[(&str, &str, u32, f64)] = &[
    ("t2", "micro", 1, 1.0),
    ("t2", "small", 1, 2.0),
    ("t2", "medium", 2, 4.0),
    ("t2", "large", 2, 8.0),
    ("t2", "xlarge", 4, 16.0),
    ("t2", "2xlarge", 8, 32.0),
    ("t3", "micro", 2, 1.0),
    ("t3", "small", 2, 2.0),
    ("t3", "medium", 2, 4.0),
    ("t3", "large", 2, 8.0),
    ("t3", "xlarge", 4, 16.0),
    ("t3", "2xlarge", 8, 32.0),
    ("t4g", "micro", 2, 1.0),
    ("t4g", "small", 2, 2.0),
    ("t4g", "medium", 2, 4.0),
    ("t4g", "large", 2, 8.0),
    ("t4g", "xlarge", 4, 16.0),
    ("t4g", "2xlarge", 8, 32.0),
];

/// Families and their memory per vCPU (GiB).
const FAMILIES: &[(&[&str], f64)] = &[
    (
        &[
            "m5", "m5d", "m6g", "m6gd", "m6i", "m6id", "m7g", "m7i", "m8g",
        ],
        4.0,
    ),
    (
        &[
            "r5", "r5d", "r6g", "r6gd", "r6i", "r6id", "r7g", "r7i", "r8g",
        ],
        8.0,
    ),
    (&["x2g", "x2iedn"], 16.0),
    (&["c6gd"], 2.0),
];

const SIZES: &[(&str, u32)] = &[
    ("large", 2),
    ("xlarge", 4),
    ("2xlarge", 8),
    ("4xlarge", 16),
    ("8xlarge", 32),
    ("12xlarge", 48),
    ("16xlarge", 64),
    ("24xlarge", 96),
    ("32xlarge", 128),
    ("48xlarge", 192),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_sizes() {
        assert_eq!(size("db.t3.micro"), Some((2, 1.0)));
        assert_eq!(size("db.t2.micro"), Some((1, 1.0)));
        assert_eq!(size("db.m5.large"), Some((2, 8.0)));
        assert_eq!(size("db.r6g.xlarge"), Some((4, 32.0)));
        assert_eq!(size("db.r5.24xlarge"), Some((96, 768.0)));
        assert_eq!(size("db.m6i.16xlarge"), Some((64, 256.0)));
        assert_eq!(size("db.z9.large"), None);
        assert_eq!(size("r5.large"), None);
    }

    #[test]
    fn burstable_classes() {
        assert!(burstable("db.t3.medium"));
        assert!(burstable("db.t4g.large"));
        assert!(burstable("db.t2.micro"));
        assert!(!burstable("db.m5.large"));
    }
}
