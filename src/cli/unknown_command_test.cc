#include "cli/unknown_command.h"

#include "gtest/gtest.h"

namespace tandem::cli {
namespace {

const std::vector<std::string> kTop = {"up",     "serve",     "models",   "artifacts",
                                       "events", "jobs",      "tune",     "deployments",
                                       "status", "notebooks", "transform"};

TEST(UnknownCommandTest, SuggestsCloseCommands) {
  EXPECT_EQ(SuggestCommands("model", kTop), std::vector<std::string>{"models"});
  EXPECT_EQ(SuggestCommands("deploy", kTop), std::vector<std::string>{"deployments"});
  EXPECT_EQ(SuggestCommands("jbos", kTop), std::vector<std::string>{"jobs"});
  EXPECT_EQ(SuggestCommands("Events", kTop), std::vector<std::string>{"events"});
  EXPECT_TRUE(SuggestCommands("images", kTop).empty());
  EXPECT_TRUE(SuggestCommands("", kTop).empty());
}

TEST(UnknownCommandTest, MessageNamesTheCommandAndSuggests) {
  EXPECT_EQ(UnknownCommandMessage("tandem", "images", kTop),
            "unknown command 'tandem images'\n"
            "run 'tandem --help' for the list of commands\n");
  EXPECT_EQ(UnknownCommandMessage("tandem", "model", kTop),
            "unknown command 'tandem model'\n"
            "did you mean 'tandem models'?\n"
            "run 'tandem --help' for the list of commands\n");
}

}  // namespace
}  // namespace tandem::cli
