// cosal-model-timing: CPU time of each part of RCAN for one frame (median
// over repeated runs after warm-up), the numbers in model/README.md.
//   cosal-model-timing [--model FILE | --backbone NAME] [--size S] [--threads T] [--runs R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
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

int usage() {
  std::fprintf(stderr,
               "usage: cosal-model-timing [--model FILE | --backbone NAME] [--variant V]\n"
               "                          [--size S] [--threads T] [--runs R]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, backbone = "mobilenet_v2", variant = "rcau";
  int size = 224, threads = 2, runs = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    if (a == "--model")
      model = v;
    else if (a == "--backbone")
      backbone = v;
    else if (a == "--variant")
      variant = v;
    else if (a == "--size")
      size = std::atoi(v.c_str());
    else if (a == "--threads")
      threads = std::atoi(v.c_str());
    else if (a == "--runs")
      runs = std::atoi(v.c_str());
    else
      return usage();
  }
  if (size <= 0 || threads <= 0 || runs <= 0) return usage();
  try {
    torch::set_num_threads(threads);
    cosal::Rcan net{nullptr};
    if (!model.empty()) {
      net = cosal::load_rcan(model);
    } else {
      cosal::RcanConfig cfg;
      cfg.backbone = backbone;
      cfg.variant = variant;
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
