// Figures for cosal-eval, drawn with cairo: line charts (PR curve, F against
// threshold) and grouped bar charts (temporal stability), each rendered to
// SVG and PNG bytes so the caller can write them atomically.
#pragma once

#include <string>
#include <vector>

namespace cosal::eval {

struct Color {
  double r = 0, g = 0, b = 0;
};

// A readable qualitative palette (Tableau 10 order), cycled for more series.
Color palette(size_t index);
// Colours before palette() repeats; callers dash the lines of the next cycle.
size_t palette_size();

struct LineSeries {
  std::string label;
  std::vector<double> x, y;
  Color color;
  double width = 1.2;  // in pixels at 100 %
  bool dashed = false;
};

struct LineChart {
  std::string title, x_label, y_label;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  std::vector<LineSeries> series;
};

struct BarSeries {
  std::string label;
  Color color;
  std::vector<double> values;  // one per category; NaN leaves a gap
};

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
};

enum class Format { Svg, Png };

// Throws std::runtime_error if cairo fails.
std::string render(const LineChart& chart, Format format);
std::string render(const BarChart& chart, Format format);

}  // namespace cosal::eval
