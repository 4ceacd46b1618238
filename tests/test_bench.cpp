// cosal-bench end to end in a tiny configuration: a randomly initialised
// "tiny" model, a few frames, one small size. Checks that the run succeeds,
// the JSON parses and has every section with plausible numbers, the table has
// its parts, and bad input gives a clear error instead of a crash. Also the
// command lines of cosal-bench, cosal-demo and cosal-model-timing: generated
// --help, and usage errors that name the tool and exit 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine.h"
#include "test_util.h"

namespace fs = std::filesystem;
using cosal::test::run;
using cosal::test::RunResult;
using cosal::test::slurp;
using cosal::test::TempDir;
using nlohmann::json;

namespace {

// The tool (the test skips when it is not built), a fresh folder, and where
// --json writes in it.
class Bench : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tool.empty()) GTEST_SKIP() << "cosal-bench not built (COSAL_BUILD_DIR/tools/cosal-bench)";
  }
  // A randomly initialised "tiny" model of `variant` in the folder.
  std::string tiny_model(const char* variant) const {
    const std::string model = (dir.path / "tiny.safetensors").string();
    cosal::write_random_model(model, "tiny", variant, 64);
    return model;
  }
  const std::string tool = cosal::test::tool_path("cosal-bench");
  const TempDir dir{"cosal_bench_test"};
  const std::string out = (dir.path / "bench.json").string();
};

void expect_summary(const json& s, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(s.is_object());
  EXPECT_GT(s.at("n").get<int>(), 0);
  const double median = s.at("median_ms"), p95 = s.at("p95_ms"), mn = s.at("min_ms"),
               mx = s.at("max_ms"), fps = s.at("fps");
  EXPECT_GT(median, 0.0);
  EXPECT_LE(mn, median);
  EXPECT_LE(median, p95);
  EXPECT_LE(p95, mx);
  EXPECT_GT(fps, 0.0);
}

}  // namespace

TEST_F(Bench, QuickRunWritesEverySection) {
  const std::string model = tiny_model("rcau");
  const RunResult r = run("'" + tool + "' --quick --threads 1 --model '" + model + "' --json '" +
                          out + "' --windows 1,4");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* part : {"machine:", "load average", "Model level", "RCAU step", "decoder",
                           "Group strategies", "Element:", "mask upscale", "peak RSS"})
    EXPECT_NE(r.output.find(part), std::string::npos) << "table lacks \"" << part << "\"\n"
                                                      << r.output;

  std::ifstream in(out);
  ASSERT_TRUE(in) << "no JSON written at " << out;
  const json j = json::parse(in);  // throws (and fails the test) when malformed
  for (const auto& e : fs::directory_iterator(fs::path(out).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos)
        << "temporary file left: " << e.path();

  const json& m = j.at("machine");
  EXPECT_FALSE(m.at("cpu").get<std::string>().empty());
  EXPECT_GT(m.at("cores").get<int>(), 0);
  EXPECT_FALSE(m.at("libtorch").get<std::string>().empty());
  EXPECT_EQ(m.at("threads").get<int>(), 1);
  EXPECT_EQ(m.at("device"), "cpu");  // the default, resolved
  EXPECT_EQ(j.at("config").at("device"), "cpu");
  EXPECT_NE(r.output.find("device cpu"), std::string::npos) << r.output;
  EXPECT_TRUE(m.at("load_average").contains("start"));

  EXPECT_EQ(j.at("model").at("backbone"), "tiny");
  EXPECT_EQ(j.at("model").at("input_width"), 64);
  EXPECT_FALSE(j.at("model").at("random_weights").get<bool>());  // a file was given

  const json& ml = j.at("model_level");
  ASSERT_EQ(ml.at("encode_per_frame").size(), 3u);
  int batch = 0;
  for (const json& e : ml.at("encode_per_frame")) {
    EXPECT_GT(e.at("batch").get<int>(), batch);
    batch = e.at("batch");
    expect_summary(e, "encode batch " + std::to_string(batch));
  }
  for (const char* part : {"update", "decode", "frame"}) expect_summary(ml.at(part), part);
  // A whole frame is an encode, an update and a decode: it cannot be faster
  // than the fastest of them.
  EXPECT_GT(ml.at("frame").at("mean_ms").get<double>(), ml.at("update").at("min_ms").get<double>());

  const json& b = j.at("baselines");
  expect_summary(b.at("single"), "single");
  const int rb = b.at("recompute_batch");
  EXPECT_TRUE(rb == 1 || rb == 4 || rb == 8) << rb;
  ASSERT_EQ(b.at("strategies").size(), 2u);
  EXPECT_EQ(b.at("strategies")[0].at("window"), 1);
  EXPECT_EQ(b.at("strategies")[1].at("window"), 4);
  for (const json& s : b.at("strategies"))
    for (const char* k : {"streaming", "window_mode", "recompute"})
      expect_summary(s.at(k), std::string(k) + " window " + s.at("window").dump());

  const json& el = j.at("element");
  EXPECT_FALSE(el.at("skipped").get<bool>());
  // 1 size x 2 modes x 2 windows, each with every frame out.
  ASSERT_EQ(el.at("runs").size(), 4u);
  for (const json& run : el.at("runs")) {
    SCOPED_TRACE(run.dump());
    EXPECT_EQ(run.at("width"), 320);
    EXPECT_EQ(run.at("height"), 240);
    EXPECT_EQ(run.at("frames"), 8);
    EXPECT_GT(run.at("fps").get<double>(), 0.0);
    EXPECT_GT(run.at("network_frame_ms").get<double>(), 0.0);
    EXPECT_GT(run.at("cpu_ms_per_frame").get<double>(), 0.0);
    expect_summary(run.at("latency"), "latency");
  }
  ASSERT_EQ(el.at("parts").size(), 1u);
  const json& parts = el.at("parts")[0];
  EXPECT_EQ(parts.at("inference_width"), 64);
  for (const char* k : {"to_rgb", "to_rgb_2_threads", "to_out", "upscale"})
    expect_summary(parts.at(k), k);

  const json& mem = j.at("memory");
  EXPECT_GT(mem.at("peak_rss_kib").get<int64_t>(), 0);
  EXPECT_GE(mem.at("peak_rss_kib").get<int64_t>(),
            mem.at("rss_after_model_load_kib").get<int64_t>());
  EXPECT_GE(mem.at("peak_rss_kib").get<int64_t>(),
            mem.at("peak_rss_after_element_level_kib").get<int64_t>());
}

TEST_F(Bench, SkipElementLeavesTheElementOut) {
  const std::string model = tiny_model("baseline");
  const RunResult r = run("'" + tool + "' --quick --skip-element --windows 3 --model '" + model +
                          "' --json '" + out + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("Element:"), std::string::npos) << r.output;
  std::ifstream in(out);
  const json j = json::parse(in);
  EXPECT_EQ(j.at("model").at("variant"), "baseline");
  EXPECT_TRUE(j.at("element").at("skipped").get<bool>());
  EXPECT_TRUE(j.at("element").at("runs").empty());
  ASSERT_EQ(j.at("baselines").at("strategies").size(), 1u);
  EXPECT_EQ(j.at("baselines").at("strategies")[0].at("window"), 3);
}

// --json never replaces an existing file unless --force, and refuses before
// any timing (a real run takes minutes); with --force the file is replaced
// whole, through a temporary file that does not stay behind.
TEST_F(Bench, JsonRefusesAnExistingFileUnlessForced) {
  const std::string model = tiny_model("rcau");
  cosal::test::write_text(out, "precious");
  const std::string cmd = "'" + tool + "' --quick --skip-element --windows 1 --model '" + model +
                          "' --json '" + out + "'";
  RunResult r = run(cmd);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(out), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pass --force to overwrite"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Model level"), std::string::npos) << "timed before refusing\n"
                                                             << r.output;
  EXPECT_EQ(slurp(out), "precious");

  r = run(cmd + " --force");
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream after(out);
  const json j = json::parse(after);  // the whole report, not "precious"
  EXPECT_EQ(j.at("tool"), "cosal-bench");
  for (const auto& e : fs::directory_iterator(dir.path))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos)
        << "left behind: " << e.path();

  // A folder in the way, or a missing one, fails before timing too.
  r = run("'" + tool + "' --quick --skip-element --model '" + model + "' --json '" +
          dir.path.string() + "' --force");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(r.output.find("Model level"), std::string::npos) << r.output;
  const std::string nowhere = (dir.path / "no" / "such" / "bench.json").string();
  r = run("'" + tool + "' --quick --skip-element --model '" + model + "' --json '" + nowhere + "'");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(nowhere), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Model level"), std::string::npos) << r.output;
}

TEST_F(Bench, BadInputIsAClearError) {
  const std::string missing = (dir.path / "nope.safetensors").string();
  RunResult r = run("'" + tool + "' --quick --model '" + missing + "'");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(missing), std::string::npos) << r.output;

  const std::string garbage = (dir.path / "garbage.safetensors").string();
  std::ofstream(garbage) << "not a weights file";
  r = run("'" + tool + "' --quick --model '" + garbage + "'");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(garbage), std::string::npos) << r.output;

  r = run("'" + tool + "' --windows 0");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--windows"), std::string::npos) << r.output;
  r = run("'" + tool + "' --sizes 640by480");
  EXPECT_EQ(r.status, 2) << r.output;
  r = run("'" + tool + "' --bogus 1");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--bogus"), std::string::npos) << r.output;
}

// A device the engine does not know, or one this machine lacks, is refused by
// the engine's own parser before anything is timed.
TEST_F(Bench, BadDeviceFailsBeforeTiming) {
  const std::string model = tiny_model("rcau");
  RunResult r = run("'" + tool + "' --quick --device gpu --model '" + model + "'");
  EXPECT_TRUE(r.status == 1 || r.status == 2) << r.output;
  EXPECT_NE(r.output.find("cosal-bench: unknown device \"gpu\""), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("element "), std::string::npos) << "timed before refusing\n" << r.output;
  EXPECT_EQ(r.output.find("Model level"), std::string::npos) << r.output;
  if (!cosal::cuda_available()) {
    r = run("'" + tool + "' --quick --device cuda:0 --model '" + model + "'");
    EXPECT_TRUE(r.status == 1 || r.status == 2) << r.output;
    EXPECT_NE(r.output.find("CUDA is not available"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("Model level"), std::string::npos) << r.output;
  }
}

namespace {

struct CommandLine {
  const char* tool;
  std::vector<const char*> options;  // every option --help must list
  const char* bad_value;             // an option with a value out of its range
};

class ToolCommandLine : public ::testing::TestWithParam<CommandLine> {
 protected:
  void SetUp() override {
    if (tool.empty()) GTEST_SKIP() << GetParam().tool << " not built";
  }
  const std::string tool = cosal::test::tool_path(GetParam().tool);
};

}  // namespace

TEST_P(ToolCommandLine, HelpListsEveryOption) {
  const RunResult r = run("'" + tool + "' --help");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(std::string("Usage:\n  ") + GetParam().tool), std::string::npos)
      << r.output;
  for (const char* option : GetParam().options)
    EXPECT_NE(r.output.find(std::string("  ") + option), std::string::npos)
        << "--help lacks " << option << "\n"
        << r.output;
}

// Usage errors go to stderr as "<tool>: <message>" and exit 2.
TEST_P(ToolCommandLine, UsageErrorsExit2WithTheToolsName) {
  const std::string prefix = std::string(GetParam().tool) + ": ";
  // Only stderr reaches the pipe.
  for (const char* a : {"--no-such-option", "stray-argument", GetParam().bad_value}) {
    const std::string args = a;
    SCOPED_TRACE(args);
    const RunResult r = run("{ '" + tool + "' " + args + " 2>&1 >/dev/null; }");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_EQ(r.output.rfind(prefix, 0), 0u) << r.output;
    const std::string first_word = args.substr(0, args.find(' '));
    EXPECT_NE(r.output.find(first_word), std::string::npos) << r.output;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tools, ToolCommandLine,
    ::testing::Values(
        CommandLine{"cosal-bench",
                    {"--model=FILE", "--device=D", "--json=FILE", "--force", "--threads=N",
                     "--frames=N", "--runs=N", "--warmup=N", "--sizes=WxH,...", "--windows=N,...",
                     "--modes=M,...", "--format=F", "--output=O", "--edge-refine=E",
                     "--inference-size=N", "--refresh-interval=N", "--skip-element", "--quick"},
                    "--refresh-interval -1"},
        CommandLine{"cosal-demo",
                    {"--input=FILE|URI", "--out=DIR", "--element=", "--sheet-frames=N", "--force"},
                    "--sheet-frames 0"},
        CommandLine{"cosal-model-timing",
                    {"--model=FILE", "--backbone=NAME", "--variant=V", "--size=S", "--threads=T",
                     "--runs=R"},
                    "--runs 0"}),
    [](const ::testing::TestParamInfo<CommandLine>& info) {
      std::string name = info.param.tool;
      for (char& c : name)
        if (c == '-') c = '_';
      return name;
    });
