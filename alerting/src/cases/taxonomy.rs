//! Case categories and their codes (GB/T 30428.2 / CJ/T 214-2007 event classes as city platforms use
//! them).

use crate::rules::Category;

/// A category's entry in the taxonomy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaxonomyEntry {
    /// Standard code.
    pub code: &'static str,
    /// Standard Chinese name.
    pub name: &'static str,
}

/// The taxonomy entry of a category.
pub const fn entry(category: Category) -> TaxonomyEntry {
    match category {
        Category::IllegalConstruction => TaxonomyEntry { code: "0101", name: "私搭乱建" },
        Category::Litter => TaxonomyEntry { code: "0102", name: "暴露垃圾" },
        Category::IllegalParking => TaxonomyEntry { code: "0505", name: "机动车乱停放" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_standard_catalogue() {
        assert_eq!(entry(Category::IllegalParking).code, "0505");
        assert_eq!(entry(Category::Litter).code, "0102");
        assert_eq!(entry(Category::IllegalConstruction).code, "0101");
    }
}
