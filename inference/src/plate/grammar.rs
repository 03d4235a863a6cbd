//! The plate formats of GA 36-2018 (《机动车号牌》) and CTC decoding constrained to them.
//!
//! A general OCR model reads any of its 18,708 characters; a plate holds few: a province, an issuing
//! authority letter and a serial of digits and capitals without I and O (left out so they are never
//! taken for 1 and 0), in a handful of fixed layouts. [`Grammar::read`] finds, for each layout, the most
//! probable CTC alignment of the recogniser's output that spells a plate of that layout (an exact
//! Viterbi over the states "blank" and "(position, character)"), and keeps the layout whose alignment is
//! the most probable. Unlike greedy decoding followed by a pattern check, a province the model barely
//! saw is still read from the probability it gave it, and a reading with a character too many or too
//! few is not thrown away but aligned to the nearest valid plate.

use std::collections::HashMap;

/// The 31 province abbreviations of mainland China.
pub const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
const LETTERS: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const ALNUM: &str = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// The energy-type letters of new-energy plates (D, A–C, E: battery electric; F, G–K: others).
const ENERGY: &str = "DABCEFGHJK";
/// The last character of special plates: trailer, coach, police, Hong Kong, Macau, consulate.
const SUFFIXES: &str = "挂学警港澳领";

/// Whether `c` occurs on any plate layout (a search by plate may hold only these).
pub fn is_plate_character(c: char) -> bool {
    SINGLE_ROW.iter().chain(BOTTOM_ROW).any(|format| format.positions.iter().any(|allowed| allowed.contains(c)))
}

/// One plate layout: the characters allowed at each position.
#[derive(Clone, Copy, Debug)]
pub struct Format {
    /// What the layout is, for logs and tests.
    pub name: &'static str,
    /// The allowed characters of each position.
    pub positions: &'static [&'static str],
}

/// The single-row layouts.
pub const SINGLE_ROW: &[Format] = &[
    Format { name: "ordinary", positions: &[PROVINCES, LETTERS, ALNUM, ALNUM, ALNUM, ALNUM, ALNUM] },
    Format {
        name: "new energy, small",
        positions: &[PROVINCES, LETTERS, ENERGY, ALNUM, DIGITS, DIGITS, DIGITS, DIGITS],
    },
    Format {
        name: "new energy, large",
        positions: &[PROVINCES, LETTERS, DIGITS, DIGITS, DIGITS, DIGITS, DIGITS, ENERGY],
    },
    Format { name: "special suffix", positions: &[PROVINCES, LETTERS, ALNUM, ALNUM, ALNUM, ALNUM, SUFFIXES] },
    Format { name: "embassy", positions: &["使", DIGITS, DIGITS, DIGITS, DIGITS, DIGITS, DIGITS] },
    Format { name: "armed police", positions: &["W", "J", PROVINCES, ALNUM, ALNUM, ALNUM, ALNUM, ALNUM] },
    Format { name: "armed police, headquarters", positions: &["W", "J", ALNUM, ALNUM, ALNUM, ALNUM, ALNUM] },
    Format { name: "civil aviation", positions: &["民", "航", ALNUM, ALNUM, ALNUM, ALNUM, ALNUM] },
];

/// The small top row of a two-row plate (rear plates of lorries and buses, motorcycles, trailers).
pub const TOP_ROW: &[Format] = &[Format { name: "top row", positions: &[PROVINCES, LETTERS] }];

/// The large bottom row of a two-row plate.
pub const BOTTOM_ROW: &[Format] = &[
    Format { name: "bottom row", positions: &[ALNUM, ALNUM, ALNUM, ALNUM, ALNUM] },
    Format { name: "bottom row, trailer or coach", positions: &[ALNUM, ALNUM, ALNUM, ALNUM, "挂学"] },
];

/// Characters a reader takes for one another. Where a position allows only letters a digit read there
/// counts for its look-alike letter, and the other way round; I and O never occur on a plate and count
/// for 1 and 0.
const LOOK_ALIKES: &[(char, &str)] = &[
    ('D', "0"),
    ('Q', "0"),
    ('B', "8"),
    ('S', "5"),
    ('Z', "2"),
    ('G', "6"),
    ('0', "DQO"),
    ('8', "B"),
    ('5', "S"),
    ('2', "Z"),
    ('6', "G"),
    ('1', "I"),
];

/// The recogniser's output for one text line: `frames × classes` probabilities, row-major, class 0
/// the CTC blank.
#[derive(Clone, Copy, Debug)]
pub struct LineProbabilities<'a> {
    /// Row-major probabilities.
    pub values: &'a [f32],
    /// Classes per frame.
    pub classes: usize,
}

impl LineProbabilities<'_> {
    fn frames(&self) -> usize {
        self.values.len() / self.classes.max(1)
    }

    fn at(&self, frame: usize, class: usize) -> f32 {
        self.values[frame * self.classes + class]
    }
}

/// A plate read from one line.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The plate, e.g. `苏ED51712`.
    pub text: String,
    /// Geometric mean of each character's peak probability, 0..1.
    pub score: f32,
    /// Log-probability of the best alignment (compares layouts of one line).
    pub log_probability: f32,
    /// Characters read.
    pub characters: usize,
}

/// One position's characters and, for each, the output classes whose probability counts for it.
#[derive(Debug)]
struct Position {
    characters: Vec<char>,
    sources: Vec<Vec<usize>>,
}

/// The plate formats bound to a recogniser's dictionary.
#[derive(Debug)]
pub struct Grammar {
    positions: HashMap<&'static str, Position>,
}

/// A state of the constrained alignment: a blank before position `k` (`k = positions` after the last),
/// or position `k` showing its `j`-th character.
#[derive(Clone, Copy)]
enum State {
    Gap(usize),
    Character(usize, usize),
}

const STAY: u32 = u32::MAX;

fn ln(p: f32) -> f32 {
    p.max(1e-12).ln()
}

fn argmax(values: &[f32]) -> Option<usize> {
    values.iter().enumerate().filter(|(_, v)| v.is_finite()).max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i)
}

/// Indices of the largest and second-largest finite values.
fn top_two(values: &[f32]) -> (Option<usize>, Option<usize>) {
    let first = argmax(values);
    let second = values
        .iter()
        .enumerate()
        .filter(|&(i, v)| Some(i) != first && v.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i);
    (first, second)
}

impl Grammar {
    /// Binds every format to `dictionary` (output class `i` is `dictionary[i − 1]`); fails naming a
    /// plate character the dictionary lacks.
    pub fn new(dictionary: &[String]) -> Result<Self, String> {
        let index: HashMap<&str, usize> = dictionary.iter().enumerate().map(|(i, c)| (c.as_str(), i + 1)).collect();
        let class_of = |c: char| index.get(c.encode_utf8(&mut [0; 4]) as &str).copied();
        let mut positions = HashMap::new();
        for format in SINGLE_ROW.iter().chain(TOP_ROW).chain(BOTTOM_ROW) {
            for &allowed in format.positions {
                if positions.contains_key(allowed) {
                    continue;
                }
                let characters: Vec<char> = allowed.chars().collect();
                let mut sources = Vec::with_capacity(characters.len());
                for &c in &characters {
                    let own = class_of(c).ok_or_else(|| format!("the dictionary has no '{c}'"))?;
                    let alikes = LOOK_ALIKES.iter().find(|(of, _)| *of == c).map_or("", |(_, alikes)| alikes);
                    let mut source = vec![own];
                    source.extend(alikes.chars().filter(|a| !allowed.contains(*a)).filter_map(class_of));
                    sources.push(source);
                }
                positions.insert(allowed, Position { characters, sources });
            }
        }
        Ok(Self { positions })
    }

    /// The most probable reading of `line` under any of `formats`.
    pub fn read(&self, line: LineProbabilities<'_>, formats: &[Format]) -> Option<Reading> {
        formats
            .iter()
            .filter_map(|format| self.decode(line, format))
            .max_by(|a, b| a.log_probability.total_cmp(&b.log_probability))
    }

    /// The best alignment of `line` that spells a plate of `format`.
    fn decode(&self, line: LineProbabilities<'_>, format: &Format) -> Option<Reading> {
        let frames = line.frames();
        let positions: Vec<&Position> = format.positions.iter().map(|p| &self.positions[p]).collect();
        let count = positions.len();
        if frames < count || count == 0 {
            return None;
        }
        let mut offset = vec![0; count + 1];
        for (k, position) in positions.iter().enumerate() {
            offset[k + 1] = offset[k] + position.characters.len();
        }
        let states = offset[count];
        // emit[offset[k] + j][t]: log-probability that frame t shows position k's j-th character.
        let mut emit = vec![0.0f32; states * frames];
        for (k, position) in positions.iter().enumerate() {
            for (j, sources) in position.sources.iter().enumerate() {
                let row = &mut emit[(offset[k] + j) * frames..(offset[k] + j + 1) * frames];
                for (t, value) in row.iter_mut().enumerate() {
                    *value = ln(sources.iter().map(|&class| line.at(t, class)).fold(0.0, f32::max));
                }
            }
        }
        let blank: Vec<f32> = (0..frames).map(|t| ln(line.at(t, 0))).collect();

        let mut characters = vec![f32::NEG_INFINITY; states];
        let mut gaps = vec![f32::NEG_INFINITY; count + 1];
        gaps[0] = blank[0];
        for j in 0..positions[0].characters.len() {
            characters[j] = emit[j * frames];
        }
        // Where each state came from: for characters 0 = stayed, 1 = from the gap before, 2 + j' = from
        // the previous position's j'-th character; for gaps STAY or the previous position's character.
        let mut from_character = vec![0u32; states * frames];
        let mut from_gap = vec![STAY; (count + 1) * frames];
        let mut next_characters = characters.clone();
        let mut next_gaps = gaps.clone();
        for t in 1..frames {
            for k in 0..count {
                let previous = (k > 0).then(|| &characters[offset[k - 1]..offset[k]]);
                let (first, second) = previous.map_or((None, None), top_two);
                for (j, &c) in positions[k].characters.iter().enumerate() {
                    let state = offset[k] + j;
                    let (mut value, mut came) = (characters[state], 0);
                    if gaps[k] > value {
                        (value, came) = (gaps[k], 1);
                    }
                    // Straight from the previous character only when it differs (CTC merges repeats).
                    let best = match first {
                        Some(b) if positions[k - 1].characters[b] != c => Some(b),
                        _ => second,
                    };
                    if let (Some(b), Some(previous)) = (best, previous)
                        && previous[b] > value
                    {
                        (value, came) = (previous[b], 2 + b as u32);
                    }
                    next_characters[state] = value + emit[state * frames + t];
                    from_character[state * frames + t] = came;
                }
            }
            for k in 0..=count {
                let (mut value, mut came) = (gaps[k], STAY);
                if k > 0
                    && let Some(b) = argmax(&characters[offset[k - 1]..offset[k]])
                    && characters[offset[k - 1] + b] > value
                {
                    (value, came) = (characters[offset[k - 1] + b], b as u32);
                }
                next_gaps[k] = value + blank[t];
                from_gap[k * frames + t] = came;
            }
            std::mem::swap(&mut characters, &mut next_characters);
            std::mem::swap(&mut gaps, &mut next_gaps);
        }

        let last = &characters[offset[count - 1]..];
        let ending_character = argmax(last);
        let character_total = ending_character.map_or(f32::NEG_INFINITY, |j| last[j]);
        let total = character_total.max(gaps[count]);
        if !total.is_finite() {
            return None;
        }
        let mut state = match ending_character {
            Some(j) if character_total >= gaps[count] => State::Character(count - 1, j),
            _ => State::Gap(count),
        };
        let mut picked = vec![None; count];
        let mut peaks = vec![0.0f32; count];
        for t in (0..frames).rev() {
            match state {
                State::Character(k, j) => {
                    let at = (offset[k] + j) * frames + t;
                    picked[k] = Some(j);
                    peaks[k] = peaks[k].max(emit[at].exp());
                    state = match from_character[at] {
                        0 => State::Character(k, j),
                        1 => State::Gap(k),
                        b => State::Character(k - 1, (b - 2) as usize),
                    };
                }
                State::Gap(k) => {
                    state = match from_gap[k * frames + t] {
                        STAY => State::Gap(k),
                        b => State::Character(k - 1, b as usize),
                    };
                }
            }
        }
        let mut text = String::new();
        for (position, j) in positions.iter().zip(&picked) {
            text.push(position.characters[(*j)?]);
        }
        let score = (peaks.iter().map(|&p| ln(p)).sum::<f32>() / count as f32).exp();
        Some(Reading { text, score, log_probability: total, characters: count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small dictionary holding every plate character, plus a few that are not plate characters.
    fn dictionary() -> Vec<String> {
        let mut all: Vec<char> = format!("{PROVINCES}{ALNUM}{SUFFIXES}使民航IO·中").chars().collect();
        all.dedup();
        all.into_iter().map(String::from).collect()
    }

    /// Frames each showing one character (`None` a blank) with probability `p`, the rest spread evenly.
    fn frames(dictionary: &[String], shown: &[(Option<&str>, f32)]) -> Vec<f32> {
        let classes = dictionary.len() + 2;
        let mut values = Vec::new();
        for &(character, p) in shown {
            let class = character.map_or(0, |c| dictionary.iter().position(|d| d == c).unwrap() + 1);
            let rest = (1.0 - p) / (classes - 1) as f32;
            values.extend((0..classes).map(|i| if i == class { p } else { rest }));
        }
        values
    }

    fn read(shown: &[(Option<&str>, f32)], formats: &[Format]) -> Option<Reading> {
        let dictionary = dictionary();
        let grammar = Grammar::new(&dictionary).unwrap();
        let values = frames(&dictionary, shown);
        grammar.read(LineProbabilities { values: &values, classes: dictionary.len() + 2 }, formats)
    }

    fn plate(text: &str, p: f32) -> Vec<(Option<&str>, f32)> {
        let mut shown = vec![(None, 0.99)];
        for (i, _) in text.char_indices() {
            let c = &text[i..i + text[i..].chars().next().unwrap().len_utf8()];
            shown.extend([(Some(c), p), (None, 0.99)]);
        }
        shown
    }

    #[test]
    fn a_clear_plate_reads_as_itself() {
        let reading = read(&plate("苏A12345", 0.95), SINGLE_ROW).unwrap();
        assert_eq!(reading.text, "苏A12345");
        assert!((reading.score - 0.95).abs() < 0.01, "{reading:?}");
    }

    #[test]
    fn repeated_characters_need_a_blank_between_them() {
        // "11" shown over two frames with no blank between is one character in CTC: the layout then
        // needs another character, so the repeat is read from the frames that were split by a blank.
        let reading = read(&plate("京A11888", 0.9), SINGLE_ROW).unwrap();
        assert_eq!(reading.text, "京A11888");
    }

    #[test]
    fn a_digit_where_the_layout_wants_a_letter_is_its_look_alike() {
        // New-energy plate 苏ED51712 whose D the model took for a 0.
        let reading = read(&plate("苏E051712", 0.95), SINGLE_ROW).unwrap();
        assert_eq!(reading.text, "苏ED51712");
    }

    #[test]
    fn o_and_i_never_come_out() {
        let reading = read(&plate("沪BO1I23", 0.9), SINGLE_ROW).unwrap();
        assert_eq!(reading.text, "沪B01123");
    }

    #[test]
    fn a_faint_province_is_still_read() {
        let mut shown = plate("蒙B023H6", 0.97);
        shown[1].1 = 0.2;
        let reading = read(&shown, SINGLE_ROW).unwrap();
        assert_eq!(reading.text, "蒙B023H6");
        assert!(reading.score < 0.85, "the faint province lowers the score: {reading:?}");
    }

    #[test]
    fn text_that_is_no_plate_scores_low() {
        // Seven digits: forced into a plate, the first position has nothing to show.
        let reading = read(&plate("0010912", 0.99), SINGLE_ROW).unwrap();
        assert!(reading.score < crate::plate::DEFAULT_MIN_SCORE, "{reading:?}");
    }

    #[test]
    fn special_suffixes_and_embassy_plates() {
        assert_eq!(read(&plate("粤Z1234港", 0.9), SINGLE_ROW).unwrap().text, "粤Z1234港");
        assert_eq!(read(&plate("使014578", 0.9), SINGLE_ROW).unwrap().text, "使014578");
        assert_eq!(read(&plate("WJ京12345", 0.9), SINGLE_ROW).unwrap().text, "WJ京12345");
    }

    #[test]
    fn two_rows_read_each_under_its_own_layout() {
        assert_eq!(read(&plate("苏E", 0.9), TOP_ROW).unwrap().text, "苏E");
        assert_eq!(read(&plate("12345", 0.9), BOTTOM_ROW).unwrap().text, "12345");
        assert_eq!(read(&plate("1234挂", 0.9), BOTTOM_ROW).unwrap().text, "1234挂");
    }

    #[test]
    fn plate_characters_are_those_of_the_layouts() {
        assert!("苏ED51712使警WJ民航".chars().all(is_plate_character));
        assert!(!"IO中%_a ".chars().any(is_plate_character));
    }

    #[test]
    fn too_few_frames_read_nothing() {
        assert!(read(&plate("京A", 0.9)[..3], SINGLE_ROW).is_none());
    }

    proptest::proptest! {
        /// Whatever the recogniser outputs, a reading spells a plate of one of the layouts, character
        /// by character, with a score in 0..=1.
        #[test]
        fn every_reading_spells_a_layout(
            frames in 0usize..30,
            seed in proptest::collection::vec(0.0f32..1.0, 30 * 8),
            hot in proptest::collection::vec(0usize..200, 30),
        ) {
            let dictionary = dictionary();
            let classes = dictionary.len() + 2;
            let grammar = Grammar::new(&dictionary).unwrap();
            // Each frame: small noise everywhere, a few random classes strong, normalised.
            let mut values = vec![0.0f32; frames * classes];
            for t in 0..frames {
                let row = &mut values[t * classes..(t + 1) * classes];
                for (i, v) in row.iter_mut().enumerate() {
                    *v = 0.001 + seed[(t * 8 + i % 8) % seed.len()] * 0.001;
                }
                row[hot[t] % classes] += 1.0;
                row[(hot[t] * 7 + 3) % classes] += seed[t];
                let sum: f32 = row.iter().sum();
                row.iter_mut().for_each(|v| *v /= sum);
            }
            let line = LineProbabilities { values: &values, classes };
            for formats in [SINGLE_ROW, TOP_ROW, BOTTOM_ROW] {
                let Some(reading) = grammar.read(line, formats) else { continue };
                let characters: Vec<char> = reading.text.chars().collect();
                let fits = |format: &Format| {
                    format.positions.len() == characters.len()
                        && format.positions.iter().zip(&characters).all(|(allowed, c)| allowed.contains(*c))
                };
                proptest::prop_assert!(formats.iter().any(fits), "{} fits no layout", reading.text);
                proptest::prop_assert!((0.0..=1.0).contains(&reading.score), "{reading:?}");
                proptest::prop_assert!(frames >= characters.len());
            }
        }
    }

    #[test]
    fn a_dictionary_without_plate_characters_is_refused() {
        let error = Grammar::new(&["a".to_owned()]).unwrap_err();
        assert!(error.contains("the dictionary has no"), "{error}");
    }
}
