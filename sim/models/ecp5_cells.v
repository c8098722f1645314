// Simulation models of the ECP5 cells that yosys's own models (share/ecp5/cells_sim.v) leave as blackboxes:
// DP16KD block RAM and MULT18X18D multiplier, in the modes synth_ecp5 maps to (yosys 0.70,
// share/lattice/brams_map_16kd.v and dsp_map_18x18.v). A mode outside them stops the simulation rather
// than being modelled wrong. Written from the ECP5 sysMEM and sysDSP usage guides (TN1264, TN1267).
`include "common_sim.vh"  // with cells_ff.vh and cells_io.vh
`include "ccu2c_sim.vh"

// 18 Kbit block RAM: 1024 rows of 18 bits, INITVAL_xx holding 16 rows each in 20-bit slots, here 2048 bytes of
// 9 bits (byte 2r is the low half of row r). A port of width 9 or 18 addresses its word with AD[13:3] or AD[13:4],
// and at 18 bits AD[1:0] enable its bytes for a write. Width 36 on both ports is the pseudo-dual-port mode: A
// writes {DIB, DIA} to word AD[13:5] with byte enables AD[3:0], B reads {DOB, DOA}. Writes land after the clock
// edge: a read of the same edge gets the old word whichever port wrote it. RST clears a port's read latch: at
// its clock edge (RESETMODE SYNC, whatever CE) or as long as it is high (ASYNC).
module DP16KD(
	input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
	input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
	input CEA, OCEA, CLKA, WEA, RSTA,
	input CSA2, CSA1, CSA0,
	output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
	input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
	input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
	input CEB, OCEB, CLKB, WEB, RSTB,
	input CSB2, CSB1, CSB0,
	output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
	parameter integer DATA_WIDTH_A = 18;
	parameter integer DATA_WIDTH_B = 18;
	parameter REGMODE_A = "NOREG";
	parameter REGMODE_B = "NOREG";
	parameter RESETMODE = "SYNC";
	parameter ASYNC_RESET_RELEASE = "SYNC";
	parameter CSDECODE_A = "0b000";
	parameter CSDECODE_B = "0b000";
	parameter WRITEMODE_A = "NORMAL";
	parameter WRITEMODE_B = "NORMAL";
	parameter CLKAMUX = "CLKA";
	parameter CLKBMUX = "CLKB";
	parameter GSR = "ENABLED";
	parameter INIT_DATA = "STATIC";
	parameter [319:0] INITVAL_00 = 320'h0;
	parameter [319:0] INITVAL_01 = 320'h0;
	parameter [319:0] INITVAL_02 = 320'h0;
	parameter [319:0] INITVAL_03 = 320'h0;
	parameter [319:0] INITVAL_04 = 320'h0;
	parameter [319:0] INITVAL_05 = 320'h0;
	parameter [319:0] INITVAL_06 = 320'h0;
	parameter [319:0] INITVAL_07 = 320'h0;
	parameter [319:0] INITVAL_08 = 320'h0;
	parameter [319:0] INITVAL_09 = 320'h0;
	parameter [319:0] INITVAL_0A = 320'h0;
	parameter [319:0] INITVAL_0B = 320'h0;
	parameter [319:0] INITVAL_0C = 320'h0;
	parameter [319:0] INITVAL_0D = 320'h0;
	parameter [319:0] INITVAL_0E = 320'h0;
	parameter [319:0] INITVAL_0F = 320'h0;
	parameter [319:0] INITVAL_10 = 320'h0;
	parameter [319:0] INITVAL_11 = 320'h0;
	parameter [319:0] INITVAL_12 = 320'h0;
	parameter [319:0] INITVAL_13 = 320'h0;
	parameter [319:0] INITVAL_14 = 320'h0;
	parameter [319:0] INITVAL_15 = 320'h0;
	parameter [319:0] INITVAL_16 = 320'h0;
	parameter [319:0] INITVAL_17 = 320'h0;
	parameter [319:0] INITVAL_18 = 320'h0;
	parameter [319:0] INITVAL_19 = 320'h0;
	parameter [319:0] INITVAL_1A = 320'h0;
	parameter [319:0] INITVAL_1B = 320'h0;
	parameter [319:0] INITVAL_1C = 320'h0;
	parameter [319:0] INITVAL_1D = 320'h0;
	parameter [319:0] INITVAL_1E = 320'h0;
	parameter [319:0] INITVAL_1F = 320'h0;
	parameter [319:0] INITVAL_20 = 320'h0;
	parameter [319:0] INITVAL_21 = 320'h0;
	parameter [319:0] INITVAL_22 = 320'h0;
	parameter [319:0] INITVAL_23 = 320'h0;
	parameter [319:0] INITVAL_24 = 320'h0;
	parameter [319:0] INITVAL_25 = 320'h0;
	parameter [319:0] INITVAL_26 = 320'h0;
	parameter [319:0] INITVAL_27 = 320'h0;
	parameter [319:0] INITVAL_28 = 320'h0;
	parameter [319:0] INITVAL_29 = 320'h0;
	parameter [319:0] INITVAL_2A = 320'h0;
	parameter [319:0] INITVAL_2B = 320'h0;
	parameter [319:0] INITVAL_2C = 320'h0;
	parameter [319:0] INITVAL_2D = 320'h0;
	parameter [319:0] INITVAL_2E = 320'h0;
	parameter [319:0] INITVAL_2F = 320'h0;
	parameter [319:0] INITVAL_30 = 320'h0;
	parameter [319:0] INITVAL_31 = 320'h0;
	parameter [319:0] INITVAL_32 = 320'h0;
	parameter [319:0] INITVAL_33 = 320'h0;
	parameter [319:0] INITVAL_34 = 320'h0;
	parameter [319:0] INITVAL_35 = 320'h0;
	parameter [319:0] INITVAL_36 = 320'h0;
	parameter [319:0] INITVAL_37 = 320'h0;
	parameter [319:0] INITVAL_38 = 320'h0;
	parameter [319:0] INITVAL_39 = 320'h0;
	parameter [319:0] INITVAL_3A = 320'h0;
	parameter [319:0] INITVAL_3B = 320'h0;
	parameter [319:0] INITVAL_3C = 320'h0;
	parameter [319:0] INITVAL_3D = 320'h0;
	parameter [319:0] INITVAL_3E = 320'h0;
	parameter [319:0] INITVAL_3F = 320'h0;

	localparam [64 * 320 - 1:0] INITVAL = {INITVAL_3F, INITVAL_3E, INITVAL_3D, INITVAL_3C, INITVAL_3B, INITVAL_3A, INITVAL_39, INITVAL_38, INITVAL_37, INITVAL_36, INITVAL_35, INITVAL_34, INITVAL_33, INITVAL_32, INITVAL_31, INITVAL_30, INITVAL_2F, INITVAL_2E, INITVAL_2D, INITVAL_2C, INITVAL_2B, INITVAL_2A, INITVAL_29, INITVAL_28, INITVAL_27, INITVAL_26, INITVAL_25, INITVAL_24, INITVAL_23, INITVAL_22, INITVAL_21, INITVAL_20, INITVAL_1F, INITVAL_1E, INITVAL_1D, INITVAL_1C, INITVAL_1B, INITVAL_1A, INITVAL_19, INITVAL_18, INITVAL_17, INITVAL_16, INITVAL_15, INITVAL_14, INITVAL_13, INITVAL_12, INITVAL_11, INITVAL_10, INITVAL_0F, INITVAL_0E, INITVAL_0D, INITVAL_0C, INITVAL_0B, INITVAL_0A, INITVAL_09, INITVAL_08, INITVAL_07, INITVAL_06, INITVAL_05, INITVAL_04, INITVAL_03, INITVAL_02, INITVAL_01, INITVAL_00};
	localparam PDP = DATA_WIDTH_A == 36;

	wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
	wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
	wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
	wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
	reg [17:0] doa = 18'd0, dob = 18'd0;  // the read latches start cleared
	assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = doa;
	assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;

	reg [8:0] mem [0:2047];
	integer k;
	initial begin
		for (k = 0; k < 2048; k = k + 1)
			mem[k] = INITVAL[320 * (k / 32) + 20 * (k / 2 % 16) + 9 * (k % 2) +: 9];
		if (!((DATA_WIDTH_A == 9 || DATA_WIDTH_A == 18) && (DATA_WIDTH_B == 9 || DATA_WIDTH_B == 18)
		      || DATA_WIDTH_A == 36 && DATA_WIDTH_B == 36)
		    || REGMODE_A != "NOREG" || REGMODE_B != "NOREG" || CLKAMUX != "CLKA" || CLKBMUX != "CLKB"
		    || CSDECODE_A != "0b000" || CSDECODE_B != "0b000") begin
			$display("DP16KD %m: mode not modelled (widths %0d/%0d, REGMODE %s/%s, CLKMUX %s/%s, CSDECODE %s/%s)",
			         DATA_WIDTH_A, DATA_WIDTH_B, REGMODE_A, REGMODE_B, CLKAMUX, CLKBMUX, CSDECODE_A, CSDECODE_B);
			$finish;
		end
	end

	function integer shift(input integer width);  // the address bits below the word address
		shift = width == 9 ? 3 : width == 18 ? 4 : 5;
	endfunction

	always @(posedge RSTA)
		if (RESETMODE == "ASYNC") if (!PDP) doa <= 18'd0;

	// Port A: a read/write port, or the write port of the 36-bit mode.
	integer wa;  // the first byte of the addressed word
	reg [17:0] newa;
	always @(posedge CLKA) begin
		wa = (ada >> shift(DATA_WIDTH_A)) * (DATA_WIDTH_A / 9);
		if (RSTA) begin
			if (!PDP) doa <= 18'd0;
		end else if (CEA && {CSA2, CSA1, CSA0} == 3'b000) begin
			if (PDP) begin
				if (WEA && ada[0]) mem[wa] <= dia[8:0];
				if (WEA && ada[1]) mem[wa + 1] <= dia[17:9];
				if (WEA && ada[2]) mem[wa + 2] <= dib[8:0];
				if (WEA && ada[3]) mem[wa + 3] <= dib[17:9];
			end else if (DATA_WIDTH_A == 9) begin
				if (WEA) mem[wa] <= dia[8:0];
				if (!WEA || WRITEMODE_A == "READBEFOREWRITE") doa <= {9'd0, mem[wa]};
				else if (WRITEMODE_A == "WRITETHROUGH") doa <= {9'd0, dia[8:0]};
			end else begin
				newa = {ada[1] ? dia[17:9] : mem[wa + 1], ada[0] ? dia[8:0] : mem[wa]};
				if (WEA) {mem[wa + 1], mem[wa]} <= newa;
				if (!WEA || WRITEMODE_A == "READBEFOREWRITE") doa <= {mem[wa + 1], mem[wa]};
				else if (WRITEMODE_A == "WRITETHROUGH") doa <= newa;
			end
		end
	end

	always @(posedge RSTB)
		if (RESETMODE == "ASYNC") begin
		dob <= 18'd0;
		if (PDP) doa <= 18'd0;
	end

	// Port B: a read/write port, or the read port of the 36-bit mode.
	integer wb;  // the first byte of the addressed word
	reg [17:0] newb;
	always @(posedge CLKB) begin
		wb = (adb >> shift(DATA_WIDTH_B)) * (DATA_WIDTH_B / 9);
		if (RSTB) begin
			dob <= 18'd0;
			if (PDP) doa <= 18'd0;
		end else if (CEB && {CSB2, CSB1, CSB0} == 3'b000) begin
			if (PDP) begin
				doa <= {mem[wb + 1], mem[wb]};
				dob <= {mem[wb + 3], mem[wb + 2]};
			end else if (DATA_WIDTH_B == 9) begin
				if (WEB) mem[wb] <= dib[8:0];
				if (!WEB || WRITEMODE_B == "READBEFOREWRITE") dob <= {9'd0, mem[wb]};
				else if (WRITEMODE_B == "WRITETHROUGH") dob <= {9'd0, dib[8:0]};
			end else begin
				newb = {adb[1] ? dib[17:9] : mem[wb + 1], adb[0] ? dib[8:0] : mem[wb]};
				if (WEB) {mem[wb + 1], mem[wb]} <= newb;
				if (!WEB || WRITEMODE_B == "READBEFOREWRITE") dob <= {mem[wb + 1], mem[wb]};
				else if (WRITEMODE_B == "WRITETHROUGH") dob <= newb;
			end
		end
	end
endmodule

// 18x18 multiplier with its registers bypassed (REG_*_CLK "NONE", the only mode synth_ecp5 maps to): P is the
// product of A and B, each signed when SIGNEDA / SIGNEDB is high (C and SOURCEA/B are for cascades: unused).
module MULT18X18D(
	input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
	input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
	input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
	input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
	output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0
);
	parameter REG_INPUTA_CLK = "NONE";
	parameter REG_INPUTB_CLK = "NONE";
	parameter REG_INPUTC_CLK = "NONE";
	parameter REG_PIPELINE_CLK = "NONE";
	parameter REG_OUTPUT_CLK = "NONE";
	parameter GSR = "ENABLED";

	wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
	wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
	wire [35:0] sa = {{18{SIGNEDA & a[17]}}, a};
	wire [35:0] sb = {{18{SIGNEDB & b[17]}}, b};
	assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = sa * sb;  // the low 36 bits of the product of the extended operands

	initial
		if (REG_INPUTA_CLK != "NONE" || REG_INPUTB_CLK != "NONE" || REG_INPUTC_CLK != "NONE"
		    || REG_PIPELINE_CLK != "NONE" || REG_OUTPUT_CLK != "NONE") begin
			$display("MULT18X18D %m: registered mode not modelled");
			$finish;
		end
endmodule
