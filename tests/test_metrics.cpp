// Saliency metrics against the reference values in
// $COSAL_SHARED_DIR/metrics/vectors.json (PySODMetrics v1.4.3 and the MATLAB
// CoSOD3k toolbox), plus cases that can be checked by hand (DAVIS's boundary F
// among them).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "boundary_f.h"
#include "distance_transform.h"
#include "e_measure.h"
#include "evaluator.h"
#include "f_measure.h"
#include "iou.h"
#include "mae.h"
#include "prepared_pair.h"
#include "s_measure.h"
#include "temporal_stability.h"
#include "weighted_f.h"

using namespace cosal::metrics;
using cosal::Image;

namespace {

Image from_rows(const nlohmann::json& rows) {
  const int h = static_cast<int>(rows.size());
  const int w = static_cast<int>(rows.at(0).size());
  Image img(w, h, 1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.row(y)[x] = rows.at(y).at(x).get<uint8_t>();
  return img;
}

Image from_vector(int w, int h, std::initializer_list<int> v) {
  Image img(w, h, 1);
  size_t i = 0;
  for (int x : v) img.pixels.at(i++) = static_cast<uint8_t>(x);
  EXPECT_EQ(i, img.pixels.size());
  return img;
}

// Loads vectors.json or returns null (the test then skips).
nlohmann::json load_vectors(std::string* why) {
  const char* dir = std::getenv("COSAL_SHARED_DIR");
  if (!dir) {
    *why = "COSAL_SHARED_DIR is not set";
    return nullptr;
  }
  const std::string path = std::string(dir) + "/metrics/vectors.json";
  std::ifstream in(path);
  if (!in) {
    *why = path + " not found";
    return nullptr;
  }
  return nlohmann::json::parse(in);
}

// Every metric key used in vectors.json, computed with the given options.
std::map<std::string, double> compute_all(const PreparedPair& p, const EvaluatorOptions& o) {
  const PairMetrics m = evaluate_pair(p, o);
  std::map<std::string, double> r;
  for (const auto& [name, value] : named(m.scores)) r[name] = value;
  return r;
}

}  // namespace

TEST(MetricsVectors, PySodMetricsValuesTo1e6) {
  std::string why;
  const nlohmann::json doc = load_vectors(&why);
  if (doc.is_null()) GTEST_SKIP() << "metric test vectors unavailable: " << why;
  int checked = 0;
  for (const auto& [name, vec] : doc.at("vectors").items()) {
    const PreparedPair p = prepare(from_rows(vec.at("pred")), from_rows(vec.at("gt")));
    const auto ours = compute_all(p, {});
    for (const auto& [key, expected] : vec.at("pysodmetrics").items()) {
      ASSERT_TRUE(ours.count(key)) << name << ": no implementation for key " << key;
      EXPECT_NEAR(ours.at(key), expected.get<double>(), 1e-6) << name << " " << key;
      // Far tighter than asked (the same arithmetic in nearly the same order);
      // what remains is summation order.
      EXPECT_NEAR(ours.at(key), expected.get<double>(), 1e-10) << name << " " << key;
      ++checked;
    }
  }
  EXPECT_GE(checked, 45);
}

// The MATLAB toolbox differs in two places, both reproducible by option:
// the S-measure centroid rounding and E-measure's strict "> k/255". Its values
// are printed with 6 decimals, so they are compared to 1e-6.
TEST(MetricsVectors, CoSodMatlabValuesWithMatlabOptions) {
  std::string why;
  const nlohmann::json doc = load_vectors(&why);
  if (doc.is_null()) GTEST_SKIP() << "metric test vectors unavailable: " << why;
  EvaluatorOptions matlab;
  matlab.s_measure.centroid = CentroidRounding::Matlab;
  matlab.e_comparison = ThresholdComparison::Greater;
  int checked = 0, differing = 0;
  for (const auto& [name, vec] : doc.at("vectors").items()) {
    if (!vec.contains("cosod_matlab")) continue;
    const PreparedPair p = prepare(from_rows(vec.at("pred")), from_rows(vec.at("gt")));
    const auto ours = compute_all(p, matlab);
    for (const auto& [key, expected] : vec.at("cosod_matlab").items()) {
      ASSERT_TRUE(ours.count(key)) << name << ": no implementation for key " << key;
      EXPECT_NEAR(ours.at(key), expected.get<double>(), 1e-6) << name << " " << key;
      if (std::fabs(expected.get<double>() - vec.at("pysodmetrics").at(key).get<double>()) > 1e-5)
        ++differing;
      ++checked;
    }
  }
  EXPECT_GE(checked, 40);
  EXPECT_GT(differing, 0) << "the vectors should exercise the MATLAB differences";
}

// 12 x 12 with a 4 x 4 object in the middle: far enough from the border for
// the 7 x 7 filter of wF and large enough that no S-measure quadrant is tiny.
Image centred_square(uint8_t inside, uint8_t outside) {
  Image img(12, 12, 1, outside);
  for (int y = 4; y < 8; ++y)
    for (int x = 4; x < 8; ++x) img.row(y)[x] = inside;
  return img;
}

TEST(Metrics, PerfectPrediction) {
  const Image gt = centred_square(255, 0);
  const PreparedPair p = prepare(gt, gt);
  EXPECT_EQ(mae(p), 0.0);
  EXPECT_NEAR(s_measure(p), 1.0, 1e-12);  // eps terms keep it a hair below
  EXPECT_EQ(iou(p), 1.0);
  const FMeasure f = f_measure(p);
  EXPECT_DOUBLE_EQ(f.adaptive, 1.0);
  EXPECT_DOUBLE_EQ(curve_max(f.f), 1.0);
  EXPECT_NEAR(weighted_f(p), 1.0, 1e-12);
  // E divides by pixels - 1: a perfect map scores 144 / 143.
  const EMeasure e = e_measure(p);
  EXPECT_NEAR(e.adaptive, 144.0 / 143.0, 1e-12);
  EXPECT_NEAR(curve_max(e.curve), 144.0 / 143.0, 1e-12);
}

TEST(Metrics, InvertedPrediction) {
  const Image gt = centred_square(255, 0);
  const PreparedPair p = prepare(centred_square(0, 255), gt);
  EXPECT_EQ(mae(p), 1.0);
  EXPECT_EQ(iou(p), 0.0);
  EXPECT_EQ(s_measure(p), 0.0);  // negative structure similarity clips to 0
  EXPECT_EQ(f_measure(p).adaptive, 0.0);
  EXPECT_NEAR(weighted_f(p), 0.0, 1e-12);
  // Threshold 0 marks everything: precision 16/144, recall 1.
  const FMeasure f = f_measure(p);
  EXPECT_DOUBLE_EQ(f.precision[0], 16.0 / 144.0);
  EXPECT_DOUBLE_EQ(f.recall[0], 1.0);
  EXPECT_DOUBLE_EQ(f.recall[255], 0.0);
}

TEST(Metrics, TinyQuadrantMakesSMeasureZeroAsInReference) {
  // A perfect 4 x 4 map with a centred 2 x 2 object: the centroid split leaves
  // a 1-pixel quadrant whose (N - 1) variance is 0 / 0, and PySODMetrics'
  // max(0, NaN) then gives 0. Kept for compatibility (documented in s_measure.h).
  Image gt(4, 4, 1, 0);
  gt.row(1)[1] = gt.row(1)[2] = gt.row(2)[1] = gt.row(2)[2] = 255;
  EXPECT_EQ(s_measure(prepare(gt, gt)), 0.0);
}

TEST(Metrics, NormalisationIgnoresOffsetAndScale) {
  // 0/255 and 100/200 maps are the same after min-max normalisation, except
  // for IoU, which reads the raw map (100 < 128 <= 200 keeps it the same here).
  const Image gt = from_vector(3, 3, {0, 255, 0, 0, 255, 255, 0, 0, 0});
  const Image a = from_vector(3, 3, {0, 255, 0, 0, 255, 0, 0, 255, 0});
  const Image b = from_vector(3, 3, {100, 200, 100, 100, 200, 100, 100, 200, 100});
  const auto ra = compute_all(prepare(a, gt), {});
  const auto rb = compute_all(prepare(b, gt), {});
  for (const auto& [k, v] : ra) EXPECT_DOUBLE_EQ(v, rb.at(k)) << k;
}

TEST(Metrics, ConstantMapIsNotNormalised) {
  const Image gt = from_vector(2, 2, {255, 0, 0, 0});
  const PreparedPair p = prepare(from_vector(2, 2, {51, 51, 51, 51}), gt);
  EXPECT_DOUBLE_EQ(p.pred(0), 0.2);
  EXPECT_DOUBLE_EQ(mae(p), (0.8 + 3 * 0.2) / 4);
}

TEST(Metrics, IouThresholdAndEmptyCases) {
  const Image empty = from_vector(2, 2, {0, 0, 0, 0});
  EXPECT_EQ(iou(prepare(empty, empty)), 1.0);  // nothing there, nothing predicted
  EXPECT_EQ(iou(prepare(from_vector(2, 2, {0, 0, 0, 200}), empty)), 0.0);
  // 127 is background, 128 foreground; gt 128 is background (> 128 is object).
  const Image gt = from_vector(2, 2, {255, 255, 129, 128});
  EXPECT_DOUBLE_EQ(iou(prepare(from_vector(2, 2, {128, 127, 255, 255}), gt)), 2.0 / 4.0);
}

TEST(Metrics, RejectsMapsThatCannotBeCompared) {
  EXPECT_THROW(prepare(Image(4, 3, 1), Image(3, 4, 1)), MetricError);
  EXPECT_THROW(prepare(Image(4, 3, 3), Image(4, 3, 1)), MetricError);
  EXPECT_THROW(prepare(Image(), Image()), MetricError);
  try {
    prepare(Image(4, 3, 1), Image(5, 3, 1));
  } catch (const MetricError& e) {
    EXPECT_NE(std::string(e.what()).find("4x3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("5x3"), std::string::npos) << e.what();
  }
}

TEST(Metrics, EmptyGroundTruth) {
  const Image gt(3, 3, 1, 0);
  const PreparedPair p = prepare(from_vector(3, 3, {0, 0, 0, 0, 255, 0, 0, 0, 0}), gt);
  EXPECT_DOUBLE_EQ(s_measure(p), 1.0 - 1.0 / 9);
  EXPECT_EQ(weighted_f(p), 0.0);
  EXPECT_EQ(f_measure(p).adaptive, 0.0);
}

TEST(Metrics, SMeasureCentroidRoundingDiffersOnlyAtHalves) {
  // Object rows 2..3 (0-based mean 2.5): numpy rounds half to even (2, +1 =
  // 3), MATLAB rounds the 1-based 3.5 up to 4, so the splits differ by a row.
  // Rows 1..2 (mean 1.5): numpy gives 2 + 1, MATLAB round(2.5) = 3: the same.
  SMeasureOptions m;
  m.centroid = CentroidRounding::Matlab;
  Image pred(7, 7, 1, 0);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 7; ++x) pred.row(y)[x] = static_cast<uint8_t>(20 * x + 15 * y);
  for (int first : {2, 1}) {
    Image gt(7, 7, 1, 0);
    for (int y = first; y <= first + 1; ++y)
      for (int x = 1; x <= 3; ++x) gt.row(y)[x] = 255;
    const PreparedPair p = prepare(pred, gt);
    if (first == 2)
      EXPECT_GT(std::fabs(s_measure(p) - s_measure(p, m)), 1e-3);
    else
      EXPECT_DOUBLE_EQ(s_measure(p), s_measure(p, m));
  }
}

TEST(DistanceTransform, MatchesBruteForceOnRandomMasks) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 30; ++trial) {
    const int w = 1 + static_cast<int>(rng() % 23), h = 1 + static_cast<int>(rng() % 17);
    std::vector<uint8_t> mask(static_cast<size_t>(w) * h);
    const unsigned density = 1 + rng() % 6;
    for (auto& m : mask) m = rng() % 16 < density ? 1 : 0;
    const FeatureTransform ft = euclidean_feature_transform(mask, w, h);
    bool any = false;
    for (auto m : mask) any = any || m;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const size_t i = static_cast<size_t>(y) * w + x;
        double best = std::numeric_limits<double>::infinity();
        for (int yy = 0; yy < h; ++yy)
          for (int xx = 0; xx < w; ++xx)
            if (mask[static_cast<size_t>(yy) * w + xx])
              best = std::min(best, std::hypot(yy - y, xx - x));
        EXPECT_DOUBLE_EQ(ft.distance(i), best) << "trial " << trial << " at " << x << "," << y;
        if (!any) {
          EXPECT_EQ(ft.row[i], -1);
          continue;
        }
        ASSERT_GE(ft.row[i], 0);
        EXPECT_TRUE(mask[static_cast<size_t>(ft.row[i]) * w + ft.col[i]]);
        EXPECT_DOUBLE_EQ(std::hypot(ft.row[i] - y, ft.col[i] - x), best);
      }
    }
  }
}

TEST(DistanceTransform, TieBreakFollowsScipy) {
  // Pixel (0,1) is equidistant from features (0,0) and (0,2); scipy's
  // Voronoi pass keeps the first one along the row ("delta1 <= delta2").
  const std::vector<uint8_t> mask = {1, 0, 1};
  const FeatureTransform ft = euclidean_feature_transform(mask, 3, 1);
  EXPECT_EQ(ft.col[1], 0);
}

// A w x h binary mask (0 / 1) with the rectangles [x0, x1) x [y0, y1) set.
struct Rect {
  int x0, y0, x1, y1;
};
std::vector<uint8_t> mask_of(int w, int h, std::initializer_list<Rect> rects) {
  std::vector<uint8_t> m(static_cast<size_t>(w) * h, 0);
  for (const Rect& r : rects)
    for (int y = r.y0; y < r.y1; ++y)
      for (int x = r.x0; x < r.x1; ++x) m[static_cast<size_t>(y) * w + x] = 1;
  return m;
}

BoundaryF boundary_f_of(int w, int h, const std::vector<uint8_t>& pred,
                        const std::vector<uint8_t>& gt) {
  return boundary_f(pred.data(), gt.data(), w, h, boundary_tolerance(w, h));
}

// seg2bmap outlines a rectangle [x0, x1) x [y0, y1) (away from the last row
// and column) as the one-pixel loop around [x0 - 1, x1 - 1] x [y0 - 1, y1 - 1]:
// the pixels just outside its top and left sides (their south / east
// neighbour is inside) and its own right column and bottom row (their east /
// south neighbour is outside). An a x b rectangle has 2a + 2b boundary pixels.
// Every hand count below walks that loop.

TEST(BoundaryF, ToleranceIsCeilOfDiagonalFraction) {
  EXPECT_EQ(boundary_tolerance(854, 480), 8);  // 0.008 * 979.65 = 7.84
  EXPECT_EQ(boundary_tolerance(40, 30), 1);    // diagonal 50: 0.4
  EXPECT_EQ(boundary_tolerance(100, 100), 2);  // 0.008 * 141.4 = 1.13
  // Diagonal 125 exactly: 0.008 * 125 rounds to 1.0 in doubles, as in numpy,
  // so the ceiling stays 1.
  EXPECT_EQ(boundary_tolerance(100, 75), 1);
  EXPECT_EQ(boundary_tolerance(1, 1), 1);
}

TEST(BoundaryF, BoundaryMapFollowsSeg2bmap) {
  // An object in the bottom-right corner of a 4 x 3 image. Worked by hand
  // with seg2bmap's rules: (1,0) sees the object south-east, (2,0) south,
  // (3,0) is on the last column and sees it south; (1,1) and (1,2) see it
  // east; inside, nothing differs from its neighbours, and the image's edge
  // is not a contour (last row: east only, last column: south only).
  const std::vector<uint8_t> mask = {0, 0, 0, 0,  //
                                     0, 0, 1, 1,  //
                                     0, 0, 1, 1};
  std::vector<uint8_t> b;
  boundary_map(mask.data(), 4, 3, b);
  const std::vector<uint8_t> expected = {0, 1, 1, 1,  //
                                         0, 1, 0, 0,  //
                                         0, 1, 0, 0};
  EXPECT_EQ(b, expected);
  // The rectangle loop described above: 2 * 5 + 2 * 3 pixels.
  boundary_map(mask_of(12, 9, {{3, 2, 8, 5}}).data(), 12, 9, b);
  int n = 0;
  for (uint8_t v : b) n += v;
  EXPECT_EQ(n, 16);
  EXPECT_TRUE(b[1 * 12 + 2]);   // top-left corner of the loop, outside
  EXPECT_TRUE(b[4 * 12 + 7]);   // bottom-right corner, inside
  EXPECT_FALSE(b[5 * 12 + 7]);  // below the object: not boundary
  EXPECT_FALSE(b[4 * 12 + 8]);  // right of it: not boundary
}

TEST(BoundaryF, IdenticalAndEmptyMasks) {
  const int w = 40, h = 30;
  const auto square = mask_of(w, h, {{10, 10, 20, 20}});
  const auto empty = mask_of(w, h, {});
  const auto full = mask_of(w, h, {{0, 0, w, h}});

  BoundaryF r = boundary_f_of(w, h, square, square);
  EXPECT_EQ(r.pred_boundary, 40);  // 2 * 10 + 2 * 10
  EXPECT_EQ(r.pred_matched, 40);
  EXPECT_EQ(r.f, 1.0);

  r = boundary_f_of(w, h, empty, square);  // nothing predicted: P 1, R 0
  EXPECT_EQ(r.precision, 1.0);
  EXPECT_EQ(r.recall, 0.0);
  EXPECT_EQ(r.f, 0.0);
  r = boundary_f_of(w, h, square, empty);  // nothing there: P 0, R 1
  EXPECT_EQ(r.precision, 0.0);
  EXPECT_EQ(r.recall, 1.0);
  EXPECT_EQ(r.f, 0.0);
  EXPECT_EQ(boundary_f_of(w, h, empty, empty).f, 1.0);
  // A full mask has no contour (the image's edge is none): like empty.
  EXPECT_EQ(boundary_f_of(w, h, full, empty).f, 1.0);
  EXPECT_EQ(boundary_f_of(w, h, full, square).f, 0.0);
}

TEST(BoundaryF, ShiftWithinAndBeyondTolerance) {
  // A 10 x 10 square shifted right by d. Its loop (columns X0..X0+10, rows
  // Y0..Y0+10, 40 pixels) against the truth's (columns X0-d..X0-d+10):
  //  - top and bottom rows: 11 pixels each; those over the truth's row match,
  //    the k-th past its end is k from the truth's corner: d - r unmatched;
  //  - the right column's 9 inner pixels are d from the truth's right
  //    column: all unmatched when d > r;
  //  - the left column's 9 inner pixels (j = 1..9 below the top) are d from
  //    the truth's left column, 10 - d from its right one, j / 10 - j from
  //    its top / bottom rows: matched when one of these is <= r.
  // Precision and recall are equal (the picture mirrored swaps them).
  {
    const int w = 100, h = 100;  // r = 2
    ASSERT_EQ(boundary_tolerance(w, h), 2);
    const auto gt = mask_of(w, h, {{30, 30, 40, 40}});
    // d = 2 <= r: every pixel within 2 of the other loop.
    BoundaryF r = boundary_f_of(w, h, mask_of(w, h, {{32, 30, 42, 40}}), gt);
    EXPECT_EQ(r.pred_matched, 40);
    EXPECT_EQ(r.gt_matched, 40);
    EXPECT_EQ(r.f, 1.0);
    // d = 3 > r: rows 1 + 1 unmatched, right column 9, left column 5
    // (j = 3..7): 24 of 40 matched.
    r = boundary_f_of(w, h, mask_of(w, h, {{33, 30, 43, 40}}), gt);
    EXPECT_EQ(r.pred_matched, 24);
    EXPECT_EQ(r.gt_matched, 24);
    EXPECT_DOUBLE_EQ(r.precision, 0.6);
    EXPECT_DOUBLE_EQ(r.recall, 0.6);
    EXPECT_DOUBLE_EQ(r.f, 0.6);
  }
  {
    const int w = 40, h = 30;  // r = 1
    ASSERT_EQ(boundary_tolerance(w, h), 1);
    const auto gt = mask_of(w, h, {{10, 10, 20, 20}});
    EXPECT_EQ(boundary_f_of(w, h, mask_of(w, h, {{11, 10, 21, 20}}), gt).f, 1.0);  // d = 1
    // d = 2: rows 1 + 1 unmatched, right column 9, left column 7 (j = 2..8):
    // 22 of 40.
    const BoundaryF r = boundary_f_of(w, h, mask_of(w, h, {{12, 10, 22, 20}}), gt);
    EXPECT_EQ(r.pred_matched, 22);
    EXPECT_DOUBLE_EQ(r.precision, 22.0 / 40);
    EXPECT_DOUBLE_EQ(r.recall, 22.0 / 40);
    EXPECT_DOUBLE_EQ(r.f, 22.0 / 40);
  }
}

TEST(BoundaryF, FarBlobCostsPrecisionByItsBoundaryShare) {
  // The right 10 x 10 square (40 boundary pixels) plus a 4 x 4 blob 40 pixels
  // away (16 more): P = 40 / 56 = 5/7, R = 1, F = 2 (5/7) / (12/7) = 5/6.
  const int w = 100, h = 100;
  const auto gt = mask_of(w, h, {{20, 20, 30, 30}});
  const BoundaryF r = boundary_f_of(w, h, mask_of(w, h, {{20, 20, 30, 30}, {70, 70, 74, 74}}), gt);
  EXPECT_EQ(r.pred_boundary, 56);
  EXPECT_EQ(r.pred_matched, 40);
  EXPECT_DOUBLE_EQ(r.precision, 5.0 / 7);
  EXPECT_EQ(r.recall, 1.0);
  EXPECT_DOUBLE_EQ(r.f, 5.0 / 6);
}

TEST(BoundaryF, ThresholdsAsIou) {
  // Prediction >= 128 is object (the raw map, as J); ground truth > 128.
  const Image gt = centred_square(255, 0);
  EXPECT_EQ(boundary_f(prepare(centred_square(128, 0), gt)).f, 1.0);
  EXPECT_EQ(boundary_f(prepare(centred_square(127, 0), gt)).f, 0.0);    // nothing predicted
  const BoundaryF r = boundary_f(prepare(gt, centred_square(128, 0)));  // nothing there
  EXPECT_EQ(r.precision, 0.0);
  EXPECT_EQ(r.recall, 1.0);
}

TEST(BoundaryF, MatchesDiskDilationOnRandomMasks) {
  // The sparse row-distance matching against the definition: dilate the other
  // boundary by every (dx, dy) with dx^2 + dy^2 <= r^2 (skimage's disk),
  // clipped at the image's edge, and count.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 60; ++trial) {
    const int w = 1 + static_cast<int>(rng() % 30), h = 1 + static_cast<int>(rng() % 24);
    const int radius = static_cast<int>(rng() % 7);
    auto random_mask = [&] {
      std::vector<uint8_t> m(static_cast<size_t>(w) * h, 0);
      const int blobs = static_cast<int>(rng() % 5);
      for (int b = 0; b < blobs; ++b) {
        const int x0 = static_cast<int>(rng() % w), y0 = static_cast<int>(rng() % h);
        const int x1 = x0 + 1 + static_cast<int>(rng() % 10),
                  y1 = y0 + 1 + static_cast<int>(rng() % 8);
        for (int y = y0; y < std::min(y1, h); ++y)
          for (int x = x0; x < std::min(x1, w); ++x) m[static_cast<size_t>(y) * w + x] = 1;
      }
      for (auto& v : m)
        if (rng() % 25 == 0) v ^= 1;  // speckle: many short contours
      return m;
    };
    const auto pred = random_mask(), gt = random_mask();
    std::vector<uint8_t> pb, gb;
    boundary_map(pred.data(), w, h, pb);
    boundary_map(gt.data(), w, h, gb);
    auto dilate = [&](const std::vector<uint8_t>& b) {
      std::vector<uint8_t> d(b.size(), 0);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          if (!b[static_cast<size_t>(y) * w + x]) continue;
          for (int dy = -radius; dy <= radius; ++dy)
            for (int dx = -radius; dx <= radius; ++dx)
              if (dx * dx + dy * dy <= radius * radius && y + dy >= 0 && y + dy < h &&
                  x + dx >= 0 && x + dx < w)
                d[static_cast<size_t>(y + dy) * w + x + dx] = 1;
        }
      return d;
    };
    const auto pd = dilate(pb), gd = dilate(gb);
    int64_t n_p = 0, n_g = 0, m_p = 0, m_g = 0;
    for (size_t i = 0; i < pb.size(); ++i) {
      n_p += pb[i];
      n_g += gb[i];
      m_p += pb[i] && gd[i];
      m_g += gb[i] && pd[i];
    }
    const BoundaryF r = boundary_f(pred.data(), gt.data(), w, h, radius);
    ASSERT_EQ(r.pred_boundary, n_p) << "trial " << trial;
    ASSERT_EQ(r.gt_boundary, n_g) << "trial " << trial;
    if (n_p == 0 || n_g == 0) continue;  // the conventions, tested above
    EXPECT_EQ(r.pred_matched, m_p) << "trial " << trial << " " << w << "x" << h << " r " << radius;
    EXPECT_EQ(r.gt_matched, m_g) << "trial " << trial << " " << w << "x" << h << " r " << radius;
    const double p = static_cast<double>(m_p) / n_p, rc = static_cast<double>(m_g) / n_g;
    EXPECT_DOUBLE_EQ(r.f, p + rc == 0 ? 0.0 : 2 * p * rc / (p + rc)) << "trial " << trial;
  }
}

TEST(BoundaryF, DavisFramesMatchTheReferenceCode) {
  // Two DAVIS masks five frames apart as prediction and truth (854 x 480,
  // r = 8). Expected: DAVIS 2016's db_eval_boundary (f_boundary.py, with
  // scikit-image 0.19's binary_dilation and disk), run on the same PNGs.
  const char* shared = std::getenv("COSAL_SHARED_DIR");
  const std::string root =
      shared ? std::string(shared) + "/data/davis2016/Annotations/480p/" : std::string();
  if (!shared || !std::ifstream(root + "car-shadow/00031.png"))
    GTEST_SKIP() << "DAVIS 2016 annotations not found under $COSAL_SHARED_DIR";
  struct Case {
    const char *pred, *gt;
    int64_t n_pred, n_gt;
    double precision, recall, f;
  };
  for (const Case& c : {Case{"car-shadow/00031.png", "car-shadow/00036.png", 810, 730,
                             0.8580246913580247, 0.8931506849315068, 0.8752354003495997},
                        Case{"dance-twirl/00035.png", "dance-twirl/00040.png", 2411, 2551,
                             0.3508917461634177, 0.3230105840846727, 0.3363744055819205}}) {
    const PreparedPair p =
        prepare(cosal::load_image(root + c.pred, 1), cosal::load_image(root + c.gt, 1));
    const BoundaryF r = boundary_f(p);
    EXPECT_EQ(r.pred_boundary, c.n_pred) << c.pred;
    EXPECT_EQ(r.gt_boundary, c.n_gt) << c.pred;
    EXPECT_DOUBLE_EQ(r.precision, c.precision) << c.pred;
    EXPECT_DOUBLE_EQ(r.recall, c.recall) << c.pred;
    EXPECT_DOUBLE_EQ(r.f, c.f) << c.pred;
  }
}

TEST(TemporalStability, ChangeInsideAndOutside) {
  const Image gt = from_vector(2, 2, {255, 255, 0, 0});
  const PreparedPair f0 = prepare(from_vector(2, 2, {255, 255, 0, 0}), gt);
  const PreparedPair f1 = prepare(from_vector(2, 2, {255, 0, 51, 0}), gt);
  const FrameChange c = frame_change(f0.raw, f1);
  EXPECT_DOUBLE_EQ(c.inside, 0.5);   // (0 + 1) / 2
  EXPECT_DOUBLE_EQ(c.outside, 0.1);  // (0.2 + 0) / 2
  TemporalStability t;
  t.add(c);
  t.add(frame_change(f1.raw, f1));
  EXPECT_EQ(t.pairs(), 2);
  EXPECT_DOUBLE_EQ(t.inside(), 0.25);
  EXPECT_DOUBLE_EQ(t.outside(), 0.05);
}

TEST(Evaluator, PerImageAndPerGroupAveragesDiffer) {
  // Group "a": one perfect image. Group "b": three images, each with one of
  // four pixels wrong (MAE 0.25). Per image: (0 + 3 * 0.25) / 4; per group:
  // (0 + 0.25) / 2.
  const Image gt = from_vector(2, 2, {255, 0, 0, 0});
  const Image wrong = from_vector(2, 2, {255, 255, 0, 0});
  Evaluator ev;
  ev.add("a", "0", gt, gt);
  for (int i = 0; i < 3; ++i) ev.add("b", std::to_string(i), wrong, gt);
  const EvaluationReport r = ev.report();
  ASSERT_EQ(r.groups.size(), 2u);
  EXPECT_EQ(r.groups[0].name, "a");
  EXPECT_EQ(r.groups[1].images, 3u);
  EXPECT_DOUBLE_EQ(r.per_image.scores.mae, 0.75 / 4);
  EXPECT_DOUBLE_EQ(r.per_group.mae, 0.25 / 2);
  EXPECT_DOUBLE_EQ(r.groups[1].scores.mae, 0.25);
  // IoU: a = 1, b = 1/2.
  EXPECT_DOUBLE_EQ(r.per_image.scores.iou, (1 + 3 * 0.5) / 4);
  EXPECT_DOUBLE_EQ(r.per_group.iou, 0.75);
  // maxF of a set is the max of its mean curve: per group (1 + Fb) / 2.
  const double fb = curve_max(f_measure(prepare(wrong, gt)).f);
  EXPECT_DOUBLE_EQ(r.per_group.max_f, (1 + fb) / 2);
  EXPECT_EQ(r.images.size(), 4u);
  // Identical frames in b: no change; a has a single frame, no pair.
  EXPECT_EQ(r.groups[0].temporal.pairs(), 0);
  EXPECT_EQ(r.groups[1].temporal.pairs(), 2);
  EXPECT_DOUBLE_EQ(r.temporal_outside, 0.0);
}

TEST(Evaluator, BoundaryFAndJAndFPerImageAndPerGroup) {
  // Group "a": twice the 10 x 10 square shifted by 2 with r = 1 (40 x 30):
  // F = 22/40 (ShiftWithinAndBeyondTolerance), J = 80 / 120. Group "b": one
  // perfect frame, F = J = 1.
  auto square = [](int x0) {
    Image img(40, 30, 1, 0);
    for (int y = 10; y < 20; ++y)
      for (int x = x0; x < x0 + 10; ++x) img.row(y)[x] = 255;
    return img;
  };
  const Image gt = square(10), shifted = square(12);
  Evaluator ev;
  ev.add("a", "0", shifted, gt);
  ev.add("a", "1", shifted, gt);
  ev.add("b", "0", gt, gt);
  const EvaluationReport r = ev.report();
  const double fa = 22.0 / 40, ja = 80.0 / 120;
  EXPECT_DOUBLE_EQ(r.images[0].scores.boundary_f, fa);
  EXPECT_DOUBLE_EQ(r.images[0].scores.jf, (ja + fa) / 2);
  EXPECT_DOUBLE_EQ(r.groups[0].scores.boundary_f, fa);
  EXPECT_DOUBLE_EQ(r.groups[1].scores.jf, 1.0);
  EXPECT_DOUBLE_EQ(r.per_image.scores.boundary_f, (2 * fa + 1) / 3);
  EXPECT_DOUBLE_EQ(r.per_image.scores.jf, ((2 * ja + 1) / 3 + (2 * fa + 1) / 3) / 2);
  EXPECT_DOUBLE_EQ(r.per_group.boundary_f, (fa + 1) / 2);
  EXPECT_DOUBLE_EQ(r.per_group.jf, ((ja + 1) / 2 + (fa + 1) / 2) / 2);
  // The report's names: J&F beside boundaryF, after the existing keys.
  const auto names = named(r.per_group);
  ASSERT_EQ(names.size(), 12u);
  EXPECT_EQ(names[9].first, "IoU");
  EXPECT_EQ(names[10].first, "boundaryF");
  EXPECT_EQ(names[11].first, "J&F");
}

TEST(Evaluator, MaxOfMeanCurveIsNotMeanOfMaxima) {
  // Two images whose best thresholds differ: the set's maxF (max of the
  // averaged curve) is below the mean of the per-image maxima.
  const Image gt = from_vector(4, 1, {255, 255, 0, 0});
  const Image p1 = from_vector(4, 1, {200, 200, 100, 0});
  const Image p2 = from_vector(4, 1, {255, 60, 40, 0});
  Evaluator ev;
  ev.add("g", "1", p1, gt);
  ev.add("g", "2", p2, gt);
  const EvaluationReport r = ev.report();
  const double mean_of_max = (r.images[0].scores.max_f + r.images[1].scores.max_f) / 2;
  EXPECT_LT(r.per_image.scores.max_f, mean_of_max - 1e-6);
  Curve mean_curve;
  const FMeasure f1 = f_measure(prepare(p1, gt)), f2 = f_measure(prepare(p2, gt));
  for (int t = 0; t < kLevels; ++t) mean_curve[t] = (f1.f[t] + f2.f[t]) / 2;
  EXPECT_DOUBLE_EQ(r.per_image.scores.max_f, curve_max(mean_curve));
}
