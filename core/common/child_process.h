#pragma once
// Starting other programs from core (POSIX): the sweep queue's point processes and Slurm's
// command-line tools. No shell is involved: arguments are passed as they are.
#include <string>
#include <vector>

namespace kd {

/// The full path of `program` found on the PATH (or `program` itself when it holds a '/' and is
/// executable); "" when there is none.
std::string find_program(const std::string& program);

/// Starts argv[0] (a path, or a name looked up on the PATH) in a new process group, stdin from
/// /dev/null, stdout and stderr appended to `log_path`; returns its pid. Throws kd::Error naming
/// the program or the log file when it cannot start.
int start_logged_process(const std::vector<std::string>& argv, const std::string& log_path);

/// What a finished command printed and how it ended.
struct CommandOutput {
  int exit_code = 0;   ///< exit status; 128 + N when killed by signal N
  std::string output;  ///< stdout and stderr together
};

/// Runs a command to its end, capturing its output. Throws kd::Error when it cannot start.
CommandOutput run_command(const std::vector<std::string>& argv);

/// This program's own path (/proc/self/exe), for the copies of itself it starts. Throws
/// kd::Error when it cannot be found.
std::string self_executable();

/// The exit code of a waitpid() status (128 + N for a signal, as shells report it).
int exit_code_of(int wait_status);

}  // namespace kd
