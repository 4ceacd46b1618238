// Tools never overwrite an existing output unless asked (--force), and say
// so: the refusal names the file and the option, and the file is untouched.
// cosal-infer's, cosal-eval's and cosal-bench's refusals are tested with their
// runs (test_train, test_cosal_eval, test_bench), cosal-train's in-process one
// in test_train; here the executables that have no other test of it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

fs::path exe(const std::string& name) {
  const char* build = std::getenv("COSAL_BUILD_DIR");
  return build ? fs::path(build) / "tools" / name : fs::path(name);
}

struct RunResult {
  int status;
  std::string output;
};

RunResult run(const std::string& cmd) {
  RunResult r{-1, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class Overwrite : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cosal-overwrite-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

}  // namespace

TEST_F(Overwrite, CosalDemoRefusesEachExistingOutput) {
  if (!fs::exists(exe("cosal-demo"))) GTEST_SKIP() << "cosal-demo not built";
  write(dir_ / "in.webm", "not a video: the refusal comes before decoding");
  for (const char* name : {"cutout.webm", "mask.webm", "contact_sheet.png"}) {
    const fs::path out = dir_ / (std::string("out-") + name);
    write(out / name, "precious");
    const RunResult r = run(exe("cosal-demo").string() + " --input " + (dir_ / "in.webm").string() +
                            " --out " + out.string());
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find((out / name).string()), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
    EXPECT_EQ(slurp(out / name), "precious");
  }
}

TEST_F(Overwrite, CosalBatchSkipsExistingOutputsAndSaysHowToRedoThem) {
  if (!fs::exists(exe("cosal-batch"))) GTEST_SKIP() << "cosal-batch not built";
  write(dir_ / "clip.mp4", "not a video: skipped before decoding");
  write(dir_ / "out/clip-mask.mkv", "precious");
  const RunResult r = run(exe("cosal-batch").string() + " -o " + (dir_ / "out").string() + " " +
                          (dir_ / "clip.mp4").string());
  EXPECT_NE(r.output.find((dir_ / "out/clip-mask.mkv").string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 skipped"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(dir_ / "out/clip-mask.mkv"), "precious");
}

TEST_F(Overwrite, CosalTrainRefusesAnExistingModel) {
  if (!fs::exists(exe("cosal-train"))) GTEST_SKIP() << "cosal-train not built";
  fs::create_directories(dir_ / "data");
  write(dir_ / "model.safetensors", "precious");
  const RunResult r = run(exe("cosal-train").string() + " --groups " + (dir_ / "data").string() +
                          " --out " + (dir_ / "model.safetensors").string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find((dir_ / "model.safetensors").string() + ": exists"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(dir_ / "model.safetensors"), "precious");
}
