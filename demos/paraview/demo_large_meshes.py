"""Show the 3D run of demos/demo_large_meshes.py (the pulse in the unit ball) in ParaView.

Run the demo first (it writes out/demo_large_meshes/ball_3d/fields.bp), then

    pvpython demos/paraview/demo_large_meshes.py [RUN_FOLDER]

(RUN_FOLDER defaults to out/demo_large_meshes/ball_3d). In the ParaView GUI, the same lines can be
pasted into View → Python Shell. The script opens the VTX file with the ADIOS2VTXReader, shows
the ball clipped by the plane y = 0 coloured by V, and the pulse's front as the contour V = 0; it
saves the last time as ball.png and every time as frames/ball.NNNN.png in the folder.
"""

import sys
from pathlib import Path

from paraview import simple as pvs

folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/demo_large_meshes/ball_3d")
bp = folder / "fields.bp"
if not bp.exists():
    sys.exit(f"{bp} not found: run `python demos/demo_large_meshes.py` first")

reader = pvs.ADIOS2VTXReader(registrationName="fields.bp", FileName=str(bp))
reader.UpdatePipelineInformation()
scene = pvs.GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()

view = pvs.GetActiveViewOrCreate("RenderView")
view.ViewSize = [1200, 900]
view.Background = [1.0, 1.0, 1.0]
view.OrientationAxesVisibility = 0

# Half of the ball: clipped by the plane y = 0.
clip = pvs.Clip(registrationName="clip y = 0", Input=reader)
clip.ClipType = "Plane"
clip.ClipType.Origin = [0.0, 0.0, 0.0]
clip.ClipType.Normal = [0.0, 1.0, 0.0]
clip_display = pvs.Show(clip, view)
pvs.ColorBy(clip_display, ("POINTS", "V"))
lut = pvs.GetColorTransferFunction("V")
lut.ApplyPreset("Viridis (matplotlib)", True)
lut.RescaleTransferFunction(-1.2, 1.2)  # rest -0.69, excited +1
lut.AutomaticRescaleRangeMode = "Never"
clip_display.SetScalarBarVisibility(view, True)

# The front: the isosurface V = 0 in the whole ball, semi-transparent.
front = pvs.Contour(registrationName="front V = 0", Input=reader)
front.ContourBy = ["POINTS", "V"]
front.Isosurfaces = [0.0]
front_display = pvs.Show(front, view)
pvs.ColorBy(front_display, None)
front_display.AmbientColor = [0.85, 0.2, 0.1]
front_display.DiffuseColor = [0.85, 0.2, 0.1]
front_display.Opacity = 0.6

view.CameraPosition = [2.5, -3.5, 2.0]
view.CameraFocalPoint = [0.0, 0.0, 0.0]
view.CameraViewUp = [0.0, 0.0, 1.0]
view.ResetCamera()

times = list(reader.TimestepValues) or [0.0]
scene.AnimationTime = times[-1]
pvs.Render(view)
pvs.SaveScreenshot(str(folder / "ball.png"), view, ImageResolution=[1200, 900])
(folder / "frames").mkdir(exist_ok=True)
pvs.SaveAnimation(str(folder / "frames" / "ball.png"), view, ImageResolution=[1200, 900])
print(f"wrote {folder / 'ball.png'} and {len(times)} frames in {folder / 'frames'}/")
