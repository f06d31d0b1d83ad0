"""Show the front with the connectome of demos/demo_cortex.py on the cortex in ParaView.

Run the demo first (it writes out/demo_cortex/, the coupled run in out/demo_cortex/connectome/),
then

    pvpython demos/paraview/demo_cortex.py [RUN_FOLDER]      # or pvbatch, or xvfb-run -a pvbatch

(RUN_FOLDER defaults to out/demo_cortex/connectome; out/demo_cortex shows the front alone). It
opens the run's fields.bp with the ADIOS2VTXReader when this ParaView has it, else
vtk/fields.pvd, else fields.xdmf (it prints which); shows the whole surface (both hemispheres,
no clip: it is a surface) coloured by V, seen from the side (−y) and above, with the front V = 0 as
a line on it; and saves the last time as cortex.png, every time as frames/cortex.NNNN.png and the
state as cortex.pvsm (File → Load State) in the run folder.

In the GUI: View → Python Shell, ``RUN_FOLDER = "/path/to/out/demo_cortex/connectome"`` (if the
GUI was not started from the repository), then Run Script with this file, and press Play.
"""

import inspect
import sys
from pathlib import Path

#: the run this script shows (relative to the working directory) and its picture's name
RUN = "out/demo_cortex/connectome"
PICTURE = "cortex"
#: a surface is shown whole: `make test-paraview` compares the picture with all of V
CLIP = False

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
fp.show_surface_and_front(reader, view)
fp.look_from(view, (-1.0, -3.0, 2.0))  # from the side (along -y, across the hemispheres) and above
fp.save_pictures(view, folder, PICTURE)
