#include "eval_plot.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <stdexcept>

namespace cosal::eval {

namespace {

constexpr int kWidth = 960, kHeight = 620;
constexpr double kLeft = 70, kTop = 44, kBottom = 64, kLegendWidth = 230;

Color palette_entry(size_t i) {
  static const Color colors[] = {{0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17},
                                 {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29},
                                 {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50}, {0.74, 0.74, 0.13},
                                 {0.09, 0.75, 0.81}};
  return colors[i % (sizeof colors / sizeof colors[0])];
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

// Runs draw on an SVG or PNG surface and returns the encoded bytes.
std::string render_with(Format format, const std::function<void(cairo_t*)>& draw) {
  std::string bytes;
  cairo_surface_t* surface =
      format == Format::Svg
          ? cairo_svg_surface_create_for_stream(append_bytes, &bytes, kWidth, kHeight)
          : cairo_image_surface_create(CAIRO_FORMAT_RGB24, kWidth, kHeight);
  cairo_t* cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  draw(cr);
  cairo_status_t status = cairo_status(cr);
  cairo_destroy(cr);
  if (status == CAIRO_STATUS_SUCCESS && format == Format::Png)
    status = cairo_surface_write_to_png_stream(surface, append_bytes, &bytes);
  cairo_surface_finish(surface);  // flushes the SVG stream
  if (status == CAIRO_STATUS_SUCCESS) status = cairo_surface_status(surface);
  cairo_surface_destroy(surface);
  if (status != CAIRO_STATUS_SUCCESS)
    throw std::runtime_error(std::string("drawing a figure failed: ") +
                             cairo_status_to_string(status));
  return bytes;
}

void set_font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

// Draws text with its anchor at (x, y): ax / ay = 0 left / top, 0.5 centre, 1 right / bottom.
void text(cairo_t* cr, const std::string& s, double x, double y, double ax, double ay,
          double angle = 0) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -e.x_bearing - e.width * ax, -e.y_bearing - e.height * ay);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

std::string format_tick(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) >= 1)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.2g", v);
  return buf;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks.
double nice_step(double range, int n) {
  const double raw = range / n;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

struct Frame {
  double x0, y0, x1, y1;  // plot area in pixels
  double vx0, vx1, vy0, vy1;
  double px(double v) const { return x0 + (v - vx0) / (vx1 - vx0) * (x1 - x0); }
  double py(double v) const { return y1 - (v - vy0) / (vy1 - vy0) * (y1 - y0); }
};

void draw_title_and_labels(cairo_t* cr, const Frame& f, const std::string& title,
                           const std::string& x_label, const std::string& y_label) {
  cairo_set_source_rgb(cr, 0, 0, 0);
  set_font(cr, 17, true);
  text(cr, title, (f.x0 + f.x1) / 2, 12, 0.5, 0);
  set_font(cr, 14);
  if (!x_label.empty()) text(cr, x_label, (f.x0 + f.x1) / 2, kHeight - 12, 0.5, 1);
  text(cr, y_label, 16, (f.y0 + f.y1) / 2, 0.5, 0, -M_PI / 2);
}

void draw_y_axis(cairo_t* cr, const Frame& f) {
  set_font(cr, 12);
  const double step = nice_step(f.vy1 - f.vy0, 8);
  for (double v = std::ceil(f.vy0 / step) * step; v <= f.vy1 + step * 1e-6; v += step) {
    const double y = f.py(v);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, f.x0, y);
    cairo_line_to(cr, f.x1, y);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, f.x0 - 5, y);
    cairo_line_to(cr, f.x0, y);
    cairo_stroke(cr);
    text(cr, format_tick(v), f.x0 - 8, y, 1, 0.5);
  }
}

void draw_x_axis(cairo_t* cr, const Frame& f) {
  set_font(cr, 12);
  const double step = nice_step(f.vx1 - f.vx0, 10);
  for (double v = std::ceil(f.vx0 / step) * step; v <= f.vx1 + step * 1e-6; v += step) {
    const double x = f.px(v);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, x, f.y0);
    cairo_line_to(cr, x, f.y1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, x, f.y1);
    cairo_line_to(cr, x, f.y1 + 5);
    cairo_stroke(cr);
    text(cr, format_tick(v), x, f.y1 + 8, 0.5, 0);
  }
}

void draw_box(cairo_t* cr, const Frame& f) {
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1.2);
  cairo_rectangle(cr, f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0);
  cairo_stroke(cr);
}

struct LegendEntry {
  std::string label;
  Color color;
  double width;
  bool dashed;
  bool box;
};

void draw_legend(cairo_t* cr, const std::vector<LegendEntry>& entries) {
  const double x = kWidth - kLegendWidth + 16;
  const double row = std::min(22.0, (kHeight - kTop - 20) / std::max<size_t>(1, entries.size()));
  set_font(cr, std::min(13.0, row * 0.62));
  double y = kTop + 8;
  for (const auto& e : entries) {
    cairo_set_source_rgb(cr, e.color.r, e.color.g, e.color.b);
    if (e.box) {
      cairo_rectangle(cr, x, y + row * 0.2, 26, row * 0.6);
      cairo_fill(cr);
    } else {
      cairo_set_line_width(cr, e.width);
      const double dash[] = {6, 4};
      cairo_set_dash(cr, dash, e.dashed ? 2 : 0, 0);
      cairo_move_to(cr, x, y + row / 2);
      cairo_line_to(cr, x + 26, y + row / 2);
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    std::string label = e.label;
    if (label.size() > 28) {
      label.resize(27);
      label += "~";
    }
    text(cr, label, x + 34, y + row / 2, 0, 0.5);
    y += row;
  }
}

Frame plot_frame(double vx0, double vx1, double vy0, double vy1, double bottom = kBottom) {
  return Frame{kLeft, kTop, kWidth - kLegendWidth, kHeight - bottom, vx0, vx1, vy0, vy1};
}

}  // namespace

Color palette(size_t index) { return palette_entry(index); }

size_t palette_size() { return 10; }

std::string render(const LineChart& chart, Format format) {
  return render_with(format, [&](cairo_t* cr) {
    const Frame f = plot_frame(chart.x_min, chart.x_max, chart.y_min, chart.y_max);
    draw_title_and_labels(cr, f, chart.title, chart.x_label, chart.y_label);
    draw_y_axis(cr, f);
    draw_x_axis(cr, f);
    cairo_save(cr);
    cairo_rectangle(cr, f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    std::vector<LegendEntry> legend;
    for (const auto& s : chart.series) {
      cairo_set_source_rgb(cr, s.color.r, s.color.g, s.color.b);
      cairo_set_line_width(cr, s.width);
      const double dash[] = {6, 4};
      cairo_set_dash(cr, dash, s.dashed ? 2 : 0, 0);
      bool pen = false;
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
          pen = false;
          continue;
        }
        if (pen)
          cairo_line_to(cr, f.px(s.x[i]), f.py(s.y[i]));
        else
          cairo_move_to(cr, f.px(s.x[i]), f.py(s.y[i]));
        pen = true;
      }
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
      legend.push_back({s.label, s.color, s.width, s.dashed, false});
    }
    cairo_restore(cr);
    draw_box(cr, f);
    draw_legend(cr, legend);
  });
}

std::string render(const BarChart& chart, Format format) {
  return render_with(format, [&](cairo_t* cr) {
    double top = 0;
    for (const auto& s : chart.series)
      for (double v : s.values)
        if (std::isfinite(v)) top = std::max(top, v);
    if (top <= 0) top = 1;
    top *= 1.1;
    const size_t nc = std::max<size_t>(1, chart.categories.size());
    // Room below for category names turned 40 degrees.
    const Frame f = plot_frame(0, static_cast<double>(nc), 0, top, 130);
    draw_title_and_labels(cr, f, chart.title, "", chart.y_label);
    draw_y_axis(cr, f);
    const double slot = (f.x1 - f.x0) / static_cast<double>(nc);
    const double bar = slot * 0.8 / static_cast<double>(std::max<size_t>(1, chart.series.size()));
    set_font(cr, std::min(12.0, std::max(8.0, slot * 0.5)));
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (size_t c = 0; c < chart.categories.size(); ++c) {
      const double x = f.x0 + slot * (static_cast<double>(c) + 0.5);
      text(cr, chart.categories[c], x, f.y1 + 6, 1, 0, -40 * M_PI / 180);
    }
    std::vector<LegendEntry> legend;
    for (size_t s = 0; s < chart.series.size(); ++s) {
      const auto& bs = chart.series[s];
      cairo_set_source_rgb(cr, bs.color.r, bs.color.g, bs.color.b);
      for (size_t c = 0; c < bs.values.size() && c < nc; ++c) {
        if (!std::isfinite(bs.values[c])) continue;
        const double x =
            f.x0 + slot * (static_cast<double>(c) + 0.1) + bar * static_cast<double>(s);
        const double y = f.py(bs.values[c]);
        cairo_rectangle(cr, x, y, bar * 0.92, f.y1 - y);
      }
      cairo_fill(cr);
      legend.push_back({bs.label, bs.color, 1, false, true});
    }
    draw_box(cr, f);
    draw_legend(cr, legend);
  });
}

}  // namespace cosal::eval
