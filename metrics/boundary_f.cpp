#include "boundary_f.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "iou.h"

namespace cosal::metrics {

namespace {

// Row y of seg2bmap into b[0, width): the generic rule (vectorised) and
// DAVIS's overrides for the last column and the last row.
void boundary_row(const uint8_t* mask, int width, int height, int y, uint8_t* b) {
  const uint8_t* m0 = mask + static_cast<size_t>(y) * width;
  if (y + 1 < height) {
    const uint8_t* m1 = m0 + width;
    for (int x = 0; x + 1 < width; ++x) {
      const uint8_t s = m0[x] != 0;
      b[x] = (s ^ (m0[x + 1] != 0)) | (s ^ (m1[x] != 0)) | (s ^ (m1[x + 1] != 0));
    }
    b[width - 1] = (m0[width - 1] != 0) != (m1[width - 1] != 0);
  } else {
    for (int x = 0; x + 1 < width; ++x) b[x] = (m0[x] != 0) != (m0[x + 1] != 0);
    b[width - 1] = 0;
  }
}

// The boundary pixels of a mask, row by row: row y's columns, ascending, are
// xs[row_start[y], row_start[y + 1]). Contours are a small share of a frame,
// so matching works on these lists instead of whole-image maps.
struct BoundaryPixels {
  std::vector<int32_t> row_start, xs;
  const int32_t* begin(int y) const { return xs.data() + row_start[y]; }
  const int32_t* end(int y) const { return xs.data() + row_start[y + 1]; }
};

void boundary_pixels(const uint8_t* mask, int width, int height, BoundaryPixels& out) {
  std::vector<uint8_t> row(static_cast<size_t>(width));
  out.row_start.assign(static_cast<size_t>(height) + 1, 0);
  out.xs.clear();
  for (int y = 0; y < height; ++y) {
    boundary_row(mask, width, height, y, row.data());
    for (int x = 0; x < width; x += 8) {
      // Most of a row is off the contour: skip it eight bytes at a time.
      const int n = std::min(8, width - x);
      uint64_t word = 0;
      std::memcpy(&word, row.data() + x, static_cast<size_t>(n));
      if (word == 0) continue;
      for (int i = 0; i < n; ++i)
        if (row[x + i]) out.xs.push_back(x + i);
    }
    out.row_start[y + 1] = static_cast<int32_t>(out.xs.size());
  }
}

// How many pixels of `from` have a pixel of `other` within the disk of
// radius r (dx^2 + dy^2 <= r^2), which is what dilating `other` by
// skimage's disk(r) and intersecting counts. half[k] is the disk's half-width
// on row offset k: the disk around (x, y) holds a pixel of `other` iff some
// row y +- k has one in [x - half[k], x + half[k]]. Along a row of `from`, x
// grows, so each of those rows is scanned by a cursor that only moves
// forward: O(r) per boundary pixel plus O(r) per pixel of `other`, instead
// of O(r^2) per pixel of the image for a dilation.
int64_t count_matched(const BoundaryPixels& from, const BoundaryPixels& other,
                      const std::vector<int32_t>& half, int height) {
  const int r = static_cast<int>(half.size()) - 1;
  std::vector<const int32_t*> cursor(2 * static_cast<size_t>(r) + 1);
  int64_t matched = 0;
  for (int y = 0; y < height; ++y) {
    if (from.begin(y) == from.end(y)) continue;
    for (int j = -r; j <= r; ++j)
      if (y + j >= 0 && y + j < height) cursor[j + r] = other.begin(y + j);
    // Does row y + j of `other` have a pixel in [lo, hi]? lo only grows.
    auto has_within = [&](int j, int32_t lo, int32_t hi) {
      if (y + j < 0 || y + j >= height) return false;
      const int32_t*& c = cursor[j + r];
      const int32_t* end = other.end(y + j);
      while (c != end && *c < lo) ++c;
      return c != end && *c <= hi;
    };
    for (const int32_t* p = from.begin(y); p != from.end(y); ++p) {
      // Nearest rows first: most pixels match at dy = 0 or 1.
      for (int dy = 0; dy <= r; ++dy) {
        const int32_t lo = *p - half[dy], hi = *p + half[dy];
        if (has_within(-dy, lo, hi) || has_within(dy, lo, hi)) {
          ++matched;
          break;
        }
      }
    }
  }
  return matched;
}

}  // namespace

int boundary_tolerance(int width, int height) {
  // numpy's norm of the shape: the sum of squares is exact, sqrt is rounded
  // once, as here.
  const double diagonal =
      std::sqrt(static_cast<double>(width) * width + static_cast<double>(height) * height);
  return static_cast<int>(std::ceil(kBoundaryTolerance * diagonal));
}

void boundary_map(const uint8_t* mask, int width, int height, std::vector<uint8_t>& out) {
  out.resize(static_cast<size_t>(width) * height);
  for (int y = 0; y < height; ++y)
    boundary_row(mask, width, height, y, out.data() + static_cast<size_t>(y) * width);
}

BoundaryF boundary_f(const uint8_t* pred_mask, const uint8_t* gt_mask, int width, int height,
                     int radius) {
  if (width <= 0 || height <= 0 || radius < 0)
    throw MetricError("boundary_f: invalid size " + std::to_string(width) + "x" +
                      std::to_string(height) + " or radius " + std::to_string(radius));
  BoundaryPixels pred_b, gt_b;
  boundary_pixels(pred_mask, width, height, pred_b);
  boundary_pixels(gt_mask, width, height, gt_b);

  BoundaryF r;
  r.pred_boundary = static_cast<int64_t>(pred_b.xs.size());
  r.gt_boundary = static_cast<int64_t>(gt_b.xs.size());
  if (r.pred_boundary == 0 || r.gt_boundary == 0) {
    // db_eval_boundary's conventions for an empty boundary.
    r.precision = r.pred_boundary == 0 ? 1.0 : 0.0;
    r.recall = r.gt_boundary == 0 ? 1.0 : 0.0;
  } else {
    // A disk wider than the image reaches all of it: clamping keeps the table
    // small without changing a match.
    const int64_t rad = std::min<int64_t>(radius, int64_t{width} + height);
    std::vector<int32_t> half(static_cast<size_t>(rad) + 1);
    int64_t k = rad;  // the half-width only shrinks as dy grows
    for (int64_t dy = 0; dy <= rad; ++dy) {
      while (k * k + dy * dy > rad * rad) --k;
      half[dy] = static_cast<int32_t>(k);
    }
    r.pred_matched = count_matched(pred_b, gt_b, half, height);
    r.gt_matched = count_matched(gt_b, pred_b, half, height);
    r.precision = static_cast<double>(r.pred_matched) / static_cast<double>(r.pred_boundary);
    r.recall = static_cast<double>(r.gt_matched) / static_cast<double>(r.gt_boundary);
  }
  const double sum = r.precision + r.recall;
  r.f = sum == 0 ? 0.0 : 2 * r.precision * r.recall / sum;
  return r;
}

BoundaryF boundary_f(const PreparedPair& pair) {
  std::vector<uint8_t> pred(pair.size());
  for (size_t i = 0; i < pred.size(); ++i) pred[i] = pair.raw[i] >= kIouThreshold;
  return boundary_f(pred.data(), pair.gt.data(), pair.width, pair.height,
                    boundary_tolerance(pair.width, pair.height));
}

}  // namespace cosal::metrics
