// raycluster: the umbrella header of the C++ API.
#pragma once

#include "raycluster/cluster.hpp"
#include "raycluster/command_runner.hpp"
#include "raycluster/error.hpp"
#include "raycluster/event.hpp"
#include "raycluster/node.hpp"
#include "raycluster/provider.hpp"
#include "raycluster/spec.hpp"
#include "raycluster/value.hpp"
