//! The grid hierarchy (区 → 街道 → 社区 → 网格): a 15-digit code is 6 digits of district, 3 of street,
//! 3 of community and 3 of grid cell, so every level's code is a prefix of the levels below it.

use serde::Serialize;

/// A level of the hierarchy, told by the code's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GridLevel {
    /// 区 (6 digits).
    District,
    /// 街道 (9 digits).
    Street,
    /// 社区 (12 digits).
    Community,
    /// 网格 (15 digits): cameras and sensors belong to cells.
    Cell,
}

impl GridLevel {
    /// The level of a code, or `None` when it is not 6, 9, 12 or 15 digits.
    pub fn of(code: &str) -> Option<Self> {
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match code.len() {
            6 => Some(Self::District),
            9 => Some(Self::Street),
            12 => Some(Self::Community),
            15 => Some(Self::Cell),
            _ => None,
        }
    }
}

/// A named grid of any level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grid {
    /// 6, 9, 12 or 15 digits.
    pub code: String,
    /// Its name.
    pub name: String,
}

/// Cases of one grid cell, as counted by the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct GridCaseCount {
    /// 15-digit cell code.
    pub grid: String,
    /// Cases not closed, evaluated or voided.
    pub open: i64,
    /// Open cases past their deadline (supervised).
    pub supervised: i64,
    /// All cases.
    pub total: i64,
}

/// A node of the grid tree with the cases of everything below it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GridNode {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level.
    pub level: GridLevel,
    /// The code of the nearest listed grid above it, if any.
    pub parent: Option<String>,
    /// Open cases in it and below.
    pub open: i64,
    /// Supervised (overdue) open cases in it and below.
    pub supervised: i64,
    /// All cases in it and below.
    pub total: i64,
}

/// The listed grids as a tree (ordered by code, so parents come before their children), each with
/// the cases of the cells under it.
pub fn grid_tree(grids: &[Grid], counts: &[GridCaseCount]) -> Vec<GridNode> {
    let mut nodes: Vec<GridNode> = grids
        .iter()
        .filter_map(|grid| {
            let level = GridLevel::of(&grid.code)?;
            let below = counts.iter().filter(|count| count.grid.starts_with(&grid.code));
            let (open, supervised, total) =
                below.fold((0, 0, 0), |(o, s, t), c| (o + c.open, s + c.supervised, t + c.total));
            let parent = grids
                .iter()
                .filter(|other| other.code.len() < grid.code.len() && grid.code.starts_with(&other.code))
                .max_by_key(|other| other.code.len())
                .map(|other| other.code.clone());
            Some(GridNode { code: grid.code.clone(), name: grid.name.clone(), level, parent, open, supervised, total })
        })
        .collect();
    nodes.sort_by(|a, b| a.code.cmp(&b.code));
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_roll_up_the_tree() {
        let grid = |code: &str, name: &str| Grid { code: code.into(), name: name.into() };
        let grids = [
            grid("110105001001002", "cell 2"),
            grid("110105", "朝阳区"),
            grid("110105001", "建外街道"),
            grid("110105001001001", "cell 1"),
            grid("110105002001001", "other street's cell"),
        ];
        let count = |grid: &str, open, supervised, total| GridCaseCount { grid: grid.into(), open, supervised, total };
        let counts = [
            count("110105001001001", 2, 1, 5),
            count("110105001001002", 1, 0, 1),
            count("110105002001001", 4, 2, 4),
            count("110108001001001", 9, 9, 9),
        ];
        let tree = grid_tree(&grids, &counts);
        let codes: Vec<&str> = tree.iter().map(|n| n.code.as_str()).collect();
        assert_eq!(codes, ["110105", "110105001", "110105001001001", "110105001001002", "110105002001001"]);
        assert_eq!((tree[0].open, tree[0].supervised, tree[0].total), (7, 3, 10), "the district sums its cells");
        assert_eq!((tree[1].open, tree[1].supervised, tree[1].total), (3, 1, 6), "the street sums its own cells");
        assert_eq!(tree[1].level, GridLevel::Street);
        assert_eq!(tree[2].parent.as_deref(), Some("110105001"), "the nearest listed level above");
        assert_eq!(tree[4].parent.as_deref(), Some("110105"), "its street is not listed: the district");
        assert_eq!(GridLevel::of("11010500100"), None);
    }
}
