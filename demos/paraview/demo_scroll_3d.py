"""Show the scroll wave of demos/demo_scroll_3d.py in ParaView.

Run the demo first (it writes out/demo_scroll_3d/), then

    pvpython demos/paraview/demo_scroll_3d.py [RUN_FOLDER]      # or pvbatch, or xvfb-run -a pvbatch

(RUN_FOLDER defaults to out/demo_scroll_3d). It opens the run's fields.bp with the
ADIOS2VTXReader when this ParaView has it, else vtk/fields.pvd, else fields.xdmf (it prints which);
shows the torus clipped by the plane y = 0 coloured by V, the wave front as the contour V = 0 and
the domain's outline; and saves the last time as scroll.png, every time as
frames/scroll.NNNN.png and the state as scroll.pvsm (File → Load State) in the run folder.

In the GUI: View → Python Shell, ``RUN_FOLDER = "/path/to/out/demo_scroll_3d"`` (if the GUI was
not started from the repository), then Run Script with this file, and press Play.
"""

import inspect
import sys
from pathlib import Path

#: the run this script shows (relative to the working directory) and its picture's name
RUN = "out/demo_scroll_3d"
PICTURE = "scroll"

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
fp.show_outline(reader, view)
fp.look_from(view, (3.2, -4.2, 2.6))
fp.save_pictures(view, folder, PICTURE)
