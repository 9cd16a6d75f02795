# Use ccache when it is installed. Precompiled headers need the sloppiness settings below,
# otherwise ccache never hits for translation units that use them.
find_program(PEFT_CCACHE ccache)
if(PEFT_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
    set(CMAKE_CXX_COMPILER_LAUNCHER
        "${CMAKE_COMMAND}" -E env
        "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        "${PEFT_CCACHE}")
    message(STATUS "ccache: ${PEFT_CCACHE}")
endif()
