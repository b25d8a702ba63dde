// raycluster.h compiles alone, as the first include, in C++ -pedantic.
#include "raycluster/raycluster.h"

int main() {
  rc_cluster_options co = RC_CLUSTER_OPTIONS_INIT;
  rc_up_options uo = RC_UP_OPTIONS_INIT;
  rc_scale_options so = RC_SCALE_OPTIONS_INIT;
  rc_down_options dn = RC_DOWN_OPTIONS_INIT;
  rc_exec_options eo = RC_EXEC_OPTIONS_INIT;
  /* Each initialiser names its struct's current version. */
  return co.version == RC_CLUSTER_OPTIONS_VERSION && uo.version == RC_UP_OPTIONS_VERSION &&
                 so.version == RC_SCALE_OPTIONS_VERSION && dn.version == RC_DOWN_OPTIONS_VERSION &&
                 eo.version == RC_EXEC_OPTIONS_VERSION &&
                 rc_abi_version() == RC_ABI_VERSION
             ? 0
             : 1;
}
