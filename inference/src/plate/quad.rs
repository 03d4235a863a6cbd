//! Quadrilaterals in image pixels: a text line's corners, rectangles grown around detected regions, and
//! the crop that straightens a quad into an upright image.

use fast_image_resize::{self as fr, images::Image, images::ImageRef};
use image::RgbImage;
use imageproc::{
    geometric_transformations::{Interpolation, Projection, warp_into_with},
    point::Point,
};

/// Corners in pixels: top-left, top-right, bottom-right, bottom-left.
pub type Quad = [[f32; 2]; 4];

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// A rotated rectangle: centre, unit axes (`along` points right, `across` down) and half extents.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    centre: [f32; 2],
    along: [f32; 2],
    across: [f32; 2],
    half_along: f32,
    half_across: f32,
}

impl Rect {
    /// The smallest rectangle holding `points` (imageproc's rotating calipers); `None` for no points.
    pub fn enclosing(points: &[Point<i32>]) -> Option<Self> {
        if points.is_empty() {
            return None;
        }
        let corners = imageproc::geometry::min_area_rect(points).map(|p| [p.x as f32, p.y as f32]);
        Some(Self::from_corners(corners))
    }

    /// The rectangle of four corners in order around it.
    fn from_corners(c: [[f32; 2]; 4]) -> Self {
        let centre = [(c[0][0] + c[2][0]) / 2.0, (c[0][1] + c[2][1]) / 2.0];
        let edge = |a: [f32; 2], b: [f32; 2]| [b[0] - a[0], b[1] - a[1]];
        let (first, second) = (edge(c[0], c[1]), edge(c[1], c[2]));
        // The edge nearer the horizontal runs along the text.
        let (mut along, mut across) = if first[0].abs() >= second[0].abs() { (first, second) } else { (second, first) };
        let (length, breadth) = (along[0].hypot(along[1]), across[0].hypot(across[1]));
        if along[0] < 0.0 {
            along = [-along[0], -along[1]];
        }
        if across[1] < 0.0 {
            across = [-across[0], -across[1]];
        }
        let unit = |v: [f32; 2], n: f32| if n > 0.0 { [v[0] / n, v[1] / n] } else { [0.0, 0.0] };
        let along = if length > 0.0 { unit(along, length) } else { [1.0, 0.0] };
        let across = if breadth > 0.0 { unit(across, breadth) } else { [0.0, 1.0] };
        Self { centre, along, across, half_along: length / 2.0, half_across: breadth / 2.0 }
    }

    /// The shorter side's length.
    pub fn short_side(&self) -> f32 {
        2.0 * self.half_along.min(self.half_across)
    }

    /// The rectangle grown by `by` on every side (a rectangle's offset, as DB's unclip does).
    pub fn grown(&self, by: f32) -> Self {
        Self { half_along: self.half_along + by, half_across: self.half_across + by, ..*self }
    }

    /// Area over perimeter times `ratio`: how far DB's unclip grows a region.
    pub fn unclip_distance(&self, ratio: f32) -> f32 {
        let (w, h) = (2.0 * self.half_along, 2.0 * self.half_across);
        if w + h <= 0.0 { 0.0 } else { w * h * ratio / (2.0 * (w + h)) }
    }

    /// Corners, top-left first, clockwise.
    pub fn quad(&self) -> Quad {
        let [cx, cy] = self.centre;
        let (a, b) = (self.along, self.across);
        let (u, v) = (self.half_along, self.half_across);
        let at = |su: f32, sv: f32| [cx + su * u * a[0] + sv * v * b[0], cy + su * u * a[1] + sv * v * b[1]];
        [at(-1.0, -1.0), at(1.0, -1.0), at(1.0, 1.0), at(-1.0, 1.0)]
    }
}

/// The quad scaled by `sx`, `sy` and clipped to `0..=width-1`, `0..=height-1`.
pub fn scale_quad(quad: Quad, sx: f32, sy: f32, width: u32, height: u32) -> Quad {
    let (max_x, max_y) = (width.saturating_sub(1) as f32, height.saturating_sub(1) as f32);
    quad.map(|[x, y]| [(x * sx).round().clamp(0.0, max_x), (y * sy).round().clamp(0.0, max_y)])
}

/// Width (longer of top and bottom edges) and height (longer of the side edges) of a quad.
pub fn quad_size(quad: &Quad) -> (f32, f32) {
    let width = distance(quad[0], quad[1]).max(distance(quad[3], quad[2]));
    let height = distance(quad[0], quad[3]).max(distance(quad[1], quad[2]));
    (width, height)
}

/// The quad with its left edge moved back and its right edge moved on by `by` pixels, along its top and
/// bottom edges.
pub fn extend_along(quad: &Quad, by: f32) -> Quad {
    let moved = |from: [f32; 2], to: [f32; 2], sign: f32| {
        let length = distance(from, to);
        if length <= 0.0 {
            return if sign < 0.0 { from } else { to };
        }
        let unit = [(to[0] - from[0]) / length, (to[1] - from[1]) / length];
        let at = if sign < 0.0 { from } else { to };
        [at[0] + sign * by * unit[0], at[1] + sign * by * unit[1]]
    };
    [
        moved(quad[0], quad[1], -1.0),
        moved(quad[0], quad[1], 1.0),
        moved(quad[3], quad[2], 1.0),
        moved(quad[3], quad[2], -1.0),
    ]
}

/// Axis-aligned bounds `[x0, y0, x1, y1]`.
pub fn bounds(quad: &Quad) -> [f32; 4] {
    let xs = quad.map(|p| p[0]);
    let ys = quad.map(|p| p[1]);
    let min = |v: [f32; 4]| v.into_iter().fold(f32::INFINITY, f32::min);
    let max = |v: [f32; 4]| v.into_iter().fold(f32::NEG_INFINITY, f32::max);
    [min(xs), min(ys), max(xs), max(ys)]
}

/// Whether the point lies inside the convex quad (edges included).
pub fn contains(quad: &Quad, x: f32, y: f32) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let (a, b) = (quad[i], quad[(i + 1) % 4]);
        let cross = (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
        if cross.abs() <= 1e-3 {
            continue;
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
    }
    true
}

/// The quad straightened into an upright image of its width and height (bicubic, edges repeated);
/// `None` when it is under a pixel either way.
pub fn crop(image: &RgbImage, quad: &Quad) -> Option<RgbImage> {
    let (width, height) = quad_size(quad);
    let (w, h) = (width as u32, height as u32);
    if w == 0 || h == 0 {
        return None;
    }
    let from = quad.map(|[x, y]| (x, y));
    let to = [(0.0, 0.0), (w as f32, 0.0), (w as f32, h as f32), (0.0, h as f32)];
    let back = Projection::from_control_points(to, from)?;
    let (max_x, max_y) = (image.width().saturating_sub(1) as f32, image.height().saturating_sub(1) as f32);
    let mut out = RgbImage::new(w, h);
    warp_into_with(
        image,
        |x, y| {
            let (u, v) = back * (x, y);
            (u.clamp(0.0, max_x), v.clamp(0.0, max_y))
        },
        Interpolation::Bicubic,
        image::Rgb([0, 0, 0]),
        &mut out,
    );
    Some(out)
}

/// The image resized to `width` × `height` (bilinear convolution, as OpenCV's `INTER_LINEAR` scales up).
pub fn resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.dimensions() == (width, height) {
        return image.clone();
    }
    let mut out = Image::new(width, height, fr::PixelType::U8x3);
    let source = ImageRef::new(image.width(), image.height(), image.as_raw(), fr::PixelType::U8x3)
        .expect("an RgbImage's buffer holds width × height × 3 bytes");
    let options = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
    fr::Resizer::new().resize(&source, &mut out, &options).expect("U8x3 into U8x3 of non-zero size");
    RgbImage::from_raw(width, height, out.into_vec()).expect("the resizer fills width × height × 3 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tilted_rectangle_orders_its_corners_from_the_top_left() {
        // A 40 × 10 rectangle turned by about 14 degrees.
        let corners = [[10.0, 20.0], [48.8, 29.7], [46.4, 39.4], [7.6, 29.7]];
        let quad = Rect::from_corners([corners[2], corners[3], corners[0], corners[1]]).quad();
        for (got, want) in quad.iter().zip(corners) {
            assert!(distance(*got, want) < 0.2, "{quad:?} vs {corners:?}");
        }
    }

    #[test]
    fn growing_adds_the_distance_on_every_side() {
        let rect = Rect::from_corners([[0.0, 0.0], [30.0, 0.0], [30.0, 10.0], [0.0, 10.0]]);
        // DB's unclip: area × ratio / perimeter = 300 × 1.5 / 80.
        assert!((rect.unclip_distance(1.5) - 5.625).abs() < 1e-4);
        let quad = rect.grown(2.0).quad();
        assert_eq!(quad, [[-2.0, -2.0], [32.0, -2.0], [32.0, 12.0], [-2.0, 12.0]]);
        assert_eq!(rect.short_side(), 10.0);
    }

    #[test]
    fn extending_along_moves_both_ends_along_a_tilted_line() {
        // A line rising by 3 in 4 (a 3-4-5 slope), 10 long and 5 high.
        let quad = [[0.0, 0.0], [8.0, -6.0], [11.0, -2.0], [3.0, 4.0]];
        let grown = extend_along(&quad, 5.0);
        let expected = [[-4.0, 3.0], [12.0, -9.0], [15.0, -5.0], [-1.0, 7.0]];
        for (got, want) in grown.iter().zip(expected) {
            assert!(distance(*got, want) < 1e-4, "{grown:?}");
        }
    }

    #[test]
    fn containment_includes_edges_and_excludes_outside() {
        let quad = [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]];
        assert!(contains(&quad, 5.0, 2.0));
        assert!(contains(&quad, 10.0, 5.0));
        assert!(!contains(&quad, 10.5, 2.0));
        assert!(!contains(&quad, 5.0, -0.5));
    }

    #[test]
    fn crop_straightens_a_quad_into_its_own_size() {
        let mut image = RgbImage::new(20, 20);
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            *pixel = image::Rgb([(x * 10) as u8, (y * 10) as u8, 0]);
        }
        let quad = [[4.0, 2.0], [14.0, 2.0], [14.0, 7.0], [4.0, 7.0]];
        let out = crop(&image, &quad).unwrap();
        assert_eq!(out.dimensions(), (10, 5));
        assert_eq!(out.get_pixel(0, 0).0[..2], [40, 20]);
        assert_eq!(out.get_pixel(9, 4).0[..2], [130, 60]);
    }
}
