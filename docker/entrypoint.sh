#!/usr/bin/env bash
# Source ROS 2 Jazzy and the workspace, then run the command.
set -e
# shellcheck disable=SC1091
source /opt/ros/jazzy/setup.bash
# shellcheck disable=SC1091
[ -f /ws/install/setup.bash ] && source /ws/install/setup.bash
exec "$@"
