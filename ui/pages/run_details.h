#pragma once
#include <QString>

#include "experiment/run_store.h"

namespace kd::ui {

/// The Experiments page's details of a run as rich text: its status, the resolved settings
/// (method, teacher -> student, layers, data, optimizer and LR, epochs, batch, seeds, device)
/// and the result (best and last accuracy over seeds, then per seed).
QString runDetailsHtml(const RunSummary& run);

}  // namespace kd::ui
