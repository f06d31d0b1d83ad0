"""Show the 3D run of demos/demo_large_meshes.py (the pulse in the unit ball) in ParaView.

Run the demo first (it writes out/demo_large_meshes/ball_3d/), then

    pvpython demos/paraview/demo_large_meshes.py [RUN_FOLDER]   # or pvbatch, or xvfb-run -a pvbatch

(RUN_FOLDER defaults to out/demo_large_meshes/ball_3d). It opens the run's fields.bp with the
ADIOS2VTXReader when this ParaView has it, else vtk/fields.pvd (it prints which); shows the ball
clipped by the plane y = 0 coloured by V and the pulse's front as the contour V = 0; and saves
the last time as ball.png, every time as frames/ball.NNNN.png and the state as ball.pvsm
(File → Load State) in the run folder.

In the GUI: View → Python Shell, ``RUN_FOLDER = "/path/to/out/demo_large_meshes/ball_3d"`` (if
the GUI was not started from the repository), then Run Script with this file, and press Play.
"""

import inspect
import sys
from pathlib import Path

#: the run this script shows (relative to the working directory) and its picture's name
RUN = "out/demo_large_meshes/ball_3d"
PICTURE = "ball"

# the helper module next to this file (the GUI's shell may run scripts without __file__)
_file = globals().get("__file__") or inspect.currentframe().f_code.co_filename
for _dir in (Path(_file).resolve().parent, Path.cwd() / "demos" / "paraview"):
    if (_dir / "fem_fhn_paraview.py").is_file():
        sys.path.insert(0, str(_dir))
        break
import fem_fhn_paraview as fp  # noqa: E402

folder = fp.run_folder(getattr(sys, "argv", []), RUN, globals())
reader = fp.open_run(folder)
view = fp.render_view()
fp.show_clip_and_front(reader, view)
fp.look_from(view, (2.5, -3.5, 2.0))
fp.save_pictures(view, folder, PICTURE)
