import FoveaTensor

// The optimisers moved below the techniques (FoveaOptim); training code keeps seeing them here.
@_exported import FoveaOptim
