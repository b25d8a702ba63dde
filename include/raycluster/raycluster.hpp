// raycluster: the umbrella header of the C++ API.
#pragma once

#include "raycluster/autoscaler.hpp"
#include "raycluster/aws_credentials.hpp"
#include "raycluster/autoscaler_loop.hpp"
#include "raycluster/cluster.hpp"
#include "raycluster/command_runner.hpp"
#include "raycluster/error.hpp"
#include "raycluster/event.hpp"
#include "raycluster/node.hpp"
#include "raycluster/http.hpp"
#include "raycluster/provider.hpp"
#include "raycluster/sigv4.hpp"
#include "raycluster/spec.hpp"
#include "raycluster/ssh.hpp"
#include "raycluster/value.hpp"
