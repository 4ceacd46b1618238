// cosal-model-timing: CPU time of each part of RCAN for one frame (median
// over repeated runs after warm-up), the numbers in model/README.md.
// `cosal-model-timing --help` lists the options.
#include <glib.h>

#include <algorithm>
#include <chrono>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "rcan.h"
#include "rcan_io.h"

namespace {

struct Timing {
  double median, min;
};

// Median and minimum: on a shared machine the minimum is the better guess at
// the unloaded cost, the median what a stream sees under that load.
Timing time_ms(int warmup, int runs, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  double l = -1;
  in >> l;
  return l;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "cosal-model-timing: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, backbone = "mobilenet_v2", variant = "rcau", config;
  int size = 224, threads = 2, runs = 20;
  {
    gchar *model_arg = nullptr, *backbone_arg = nullptr, *variant_arg = nullptr,
          *config_arg = nullptr;
    const GOptionEntry entries[] = {
        {"model", 0, 0, G_OPTION_ARG_FILENAME, &model_arg,
         "Weights file to time (default: a randomly initialised network of --backbone and "
         "--variant)",
         "FILE"},
        {"backbone", 0, 0, G_OPTION_ARG_STRING, &backbone_arg,
         "Backbone of the random network: mobilenet_v2 (default), mobilenet_v2_os8, vgg16, tiny",
         "NAME"},
        {"variant", 0, 0, G_OPTION_ARG_STRING, &variant_arg,
         "Group unit of the random network: rcau (default), baseline, convgru, rcau_no_reset, "
         "rcau_spatial, rcau_channel",
         "V"},
        {"config", 0, 0, G_OPTION_ARG_STRING, &config_arg,
         "The random network's whole configuration as a weights file's JSON (replaces "
         "--backbone and --variant), e.g. '{\"sir_channels\": 128, \"decoder_channels\": 128, "
         "\"decoder_separable\": true}'",
         "JSON"},
        {"size", 0, 0, G_OPTION_ARG_INT, &size, "Square input size in pixels (default 224)", "S"},
        {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "LibTorch intra-op threads (default 2)", "T"},
        {"runs", 0, 0, G_OPTION_ARG_INT, &runs,
         "Timed runs per part, after 5 warm-up runs (default 20)", "R"},
        {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
    // --help in the user's charset (GLib converts its text to it); numbers stay in
    // the C format that the printed tables and the parsers expect.
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");
    GOptionContext* ctx = g_option_context_new("- CPU time of each part of RCAN for one frame");
    g_option_context_set_summary(
        ctx,
        "Times the backbone, one group step, the SIR branch, the decoder and a whole\n"
        "streaming frame (encode, group step, decode) at batch 1, and prints the median\n"
        "and minimum of each: the numbers in model/README.md.");
    g_option_context_set_description(
        ctx,
        "On a shared machine the minimum is the better guess at the unloaded cost, the\n"
        "median what a stream sees under that load; the load average is printed before\n"
        "and after. A random network times the same as a trained one of its architecture.\n"
        "\n"
        "Example:\n"
        "  cosal-model-timing --backbone vgg16 --size 320 --threads 1\n");
    g_option_context_add_main_entries(ctx, entries, nullptr);
    GError* error = nullptr;
    const bool parsed = g_option_context_parse(ctx, &argc, &argv, &error);
    g_option_context_free(ctx);
    for (auto [arg, to] : {std::pair{model_arg, &model}, std::pair{backbone_arg, &backbone},
                           std::pair{variant_arg, &variant}, std::pair{config_arg, &config}}) {
      if (arg) *to = arg;
      g_free(arg);
    }
    if (!parsed) {
      const std::string m = error->message;
      g_error_free(error);
      return usage_error(m + " (see --help)");
    }
  }
  if (argc > 1)
    return usage_error(std::string("unexpected argument '") + argv[1] + "' (see --help)");
  for (const auto& [name, value] :
       {std::pair{"--size", size}, std::pair{"--threads", threads}, std::pair{"--runs", runs}})
    if (value <= 0)
      return usage_error(std::string(name) + ": expected a positive integer, got " +
                         std::to_string(value));
  try {
    torch::set_num_threads(threads);
    cosal::Rcan net{nullptr};
    if (!model.empty()) {
      net = cosal::load_rcan(model);
    } else {
      cosal::RcanConfig cfg;
      if (!config.empty())
        cfg = cosal::RcanConfig::from_json(config);
      else {
        cfg.backbone = backbone;
        cfg.variant = variant;
      }
      cfg.input_width = cfg.input_height = size;
      torch::manual_seed(0);
      net = cosal::Rcan(cfg);  // timing does not depend on the weights' values
    }
    net->eval();
    c10::InferenceMode guard;
    torch::manual_seed(1);
    auto image = torch::rand({1, 3, size, size});
    auto f = net->encode(image);
    auto g = net->group_feature(net->encode(torch::rand({2, 3, size, size})).x);
    if (!g.defined()) g = f.x;
    const int warmup = 5;

    std::printf("RCAN %s, backbone %s, %dx%d, batch 1, %d thread(s), median of %d runs\n",
                net->config().variant.c_str(), net->config().backbone.c_str(), size, size, threads,
                runs);
    std::printf("X %ldx%ldx%ld", static_cast<long>(f.x.size(2)), static_cast<long>(f.x.size(3)),
                static_cast<long>(f.x.size(1)));
    for (const auto& s : f.skips)
      std::printf(", skip %ldx%ldx%ld", static_cast<long>(s.size(2)), static_cast<long>(s.size(3)),
                  static_cast<long>(s.size(1)));
    std::printf("; load average before: %.2f\n", load_average());

    const Timing t_backbone = time_ms(warmup, runs, [&] { net->encode(image); });
    const Timing t_step = time_ms(warmup, runs, [&] { net->group_step(g, f.x); });
    const Timing t_sir = time_ms(warmup, runs, [&] { net->sir(f.x); });
    auto s = net->sir(f.x);
    const Timing t_decoder = time_ms(warmup, runs, [&] {
      net->decoder(s, net->config().uses_group() ? g : torch::Tensor(), f.skips, size, size);
    });
    const Timing t_frame = time_ms(warmup, runs, [&] {
      // What a stream pays per frame: encode, one group step, decode.
      auto fx = net->encode(image);
      auto gn = net->group_step(g, fx.x);
      torch::sigmoid(net->decode(fx, gn, size, size));
    });
    std::printf("%-28s %10s %10s\n", "part", "median ms", "min ms");
    auto row = [](const char* name, const Timing& t) {
      std::printf("%-28s %10.2f %10.2f\n", name, t.median, t.min);
    };
    row("backbone (encode)", t_backbone);
    row("group step (RCAU)", t_step);
    row("SIR branch", t_sir);
    row("decoder", t_decoder);
    row("whole frame (streaming)", t_frame);
    std::printf("load average after: %.2f\n", load_average());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cosal-model-timing: %s\n", e.what());
    return 1;
  }
  return 0;
}
