#include "ir_tools/common/output_file.h"
#include "passes/core/error.h"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace tsopt {
namespace {

std::vector<std::string> listDirectory(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* dir = opendir(path.c_str())) {
    while (dirent* entry = readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") {
        names.push_back(name);
      }
    }
    closedir(dir);
  }
  return names;
}

std::string freshDirectory(const std::string& name) {
  std::string path = ::testing::TempDir() + name;
  mkdir(path.c_str(), 0755);
  for (const std::string& entry : listDirectory(path)) {
    std::remove((path + "/" + entry).c_str());
  }
  return path;
}

TEST(OutputFileTest, WritesThenRenames) {
  std::string dir = freshDirectory("tsopt_output_ok");
  writeTextAtomically(dir + "/out.ir", "graph()\n");
  std::ifstream file(dir + "/out.ir");
  std::stringstream content;
  content << file.rdbuf();
  EXPECT_EQ(content.str(), "graph()\n");
  EXPECT_EQ(listDirectory(dir), std::vector<std::string>{"out.ir"});
}

TEST(OutputFileTest, FailedWriteLeavesOldFileAndNoTemporary) {
  std::string dir = freshDirectory("tsopt_output_fail");
  writeTextAtomically(dir + "/out.ir", "old\n");
  EXPECT_THROW(writeFileAtomically(dir + "/out.ir",
                                   [](const std::string& temp) {
                                     std::ofstream(temp) << "half";
                                     throw std::runtime_error("disk full");
                                   }),
               Error);
  std::ifstream file(dir + "/out.ir");
  std::string line;
  std::getline(file, line);
  EXPECT_EQ(line, "old");
  EXPECT_EQ(listDirectory(dir), std::vector<std::string>{"out.ir"});
}

TEST(OutputFileTest, MissingDirectoryIsAnOutputError) {
  try {
    writeTextAtomically("/nonexistent-dir/out.ir", "x");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::Output);
    EXPECT_EQ(std::string(error.what()).rfind("/nonexistent-dir/out.ir: cannot create output file", 0), 0u);
  }
}

} // namespace
} // namespace tsopt
