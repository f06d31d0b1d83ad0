"""Show the scroll wave of demos/demo_scroll_3d.py in ParaView.

Run the demo first (it writes out/demo_scroll_3d/fields.bp), then

    pvpython demos/paraview/demo_scroll_3d.py [OUTPUT_FOLDER]

(OUTPUT_FOLDER defaults to out/demo_scroll_3d). In the ParaView GUI, the same lines can be pasted
into View → Python Shell. The script opens the VTX file with the ADIOS2VTXReader, shows the
domain clipped by the plane y = 0 coloured by V, and the wave front as the contour V = 0; it
saves the last time as scroll.png and every time as frames/scroll.NNNN.png in the folder.
"""

import sys
from pathlib import Path

from paraview import simple as pvs

folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/demo_scroll_3d")
bp = folder / "fields.bp"
if not bp.exists():
    sys.exit(f"{bp} not found: run `python demos/demo_scroll_3d.py` first")

# The VTX (ADIOS2) file: P1 fields V, W, rho0 as point data, one step per output time.
reader = pvs.ADIOS2VTXReader(registrationName="fields.bp", FileName=str(bp))
reader.UpdatePipelineInformation()
scene = pvs.GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()

view = pvs.GetActiveViewOrCreate("RenderView")
view.ViewSize = [1200, 900]
view.Background = [1.0, 1.0, 1.0]
view.OrientationAxesVisibility = 0

# Half of the domain: clipped by the plane y = 0 (the same cut as the demo's pictures).
clip = pvs.Clip(registrationName="clip y = 0", Input=reader)
clip.ClipType = "Plane"
clip.ClipType.Origin = [0.0, 0.0, 0.0]
clip.ClipType.Normal = [0.0, 1.0, 0.0]
clip_display = pvs.Show(clip, view)
pvs.ColorBy(clip_display, ("POINTS", "V"))
lut = pvs.GetColorTransferFunction("V")
lut.ApplyPreset("Viridis (matplotlib)", True)
lut.RescaleTransferFunction(-1.2, 1.2)  # the FHN excursion: rest -0.6, excited +1, refractory -1.1
lut.AutomaticRescaleRangeMode = "Never"
clip_display.SetScalarBarVisibility(view, True)

# The wave front: the isosurface V = 0 in the whole domain, semi-transparent.
front = pvs.Contour(registrationName="front V = 0", Input=reader)
front.ContourBy = ["POINTS", "V"]
front.Isosurfaces = [0.0]
front_display = pvs.Show(front, view)
pvs.ColorBy(front_display, None)
front_display.AmbientColor = [0.85, 0.2, 0.1]
front_display.DiffuseColor = [0.85, 0.2, 0.1]
front_display.Opacity = 0.6

# The outline of the domain for orientation.
outline = pvs.Show(pvs.Outline(registrationName="outline", Input=reader), view)
outline.DiffuseColor = [0.3, 0.3, 0.3]

view.CameraPosition = [3.2, -4.2, 2.6]
view.CameraFocalPoint = [0.0, 0.0, 0.0]
view.CameraViewUp = [0.0, 0.0, 1.0]
view.ResetCamera()

times = list(reader.TimestepValues) or [0.0]
scene.AnimationTime = times[-1]
pvs.Render(view)
pvs.SaveScreenshot(str(folder / "scroll.png"), view, ImageResolution=[1200, 900])
(folder / "frames").mkdir(exist_ok=True)
pvs.SaveAnimation(str(folder / "frames" / "scroll.png"), view, ImageResolution=[1200, 900])
print(f"wrote {folder / 'scroll.png'} and {len(times)} frames in {folder / 'frames'}/")
